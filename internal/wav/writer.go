package wav

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// headerSize is the size of the header Writer writes: RIFF (12), fmt
// with an empty extension (8+18), fact (12), data (8). It is the layout sox
// writes for float; sox 14.4 warns about WAVE_FORMAT_EXTENSIBLE float.
const headerSize = 58

// Offsets of the fields Close patches.
const (
	offRIFFSize = 4
	offFact     = 46
	offDataSize = 54
)

// maxDataBytes keeps the RIFF size, which counts everything after its own
// field, within 32 bits.
const maxDataBytes = math.MaxUint32 - (headerSize - 8)

// Writer writes IEEE float32 samples (format tag 3) with a fact chunk.
type Writer struct {
	w        io.WriteSeeker
	start    int64 // offset of the RIFF header in w
	channels int
	data     int64 // data bytes written
	buf      []byte
	err      error // sticky
	closed   bool
}

// NewWriter writes a header for rate and channels at w's current offset.
// The sizes in it are patched by Close.
func NewWriter(w io.WriteSeeker, rate, channels int) (*Writer, error) {
	if rate <= 0 || rate > math.MaxInt32 {
		return nil, fmt.Errorf("wav: invalid sample rate %d", rate)
	}
	if channels <= 0 || channels > MaxChannels {
		return nil, fmt.Errorf("wav: invalid channel count %d (want 1..%d)", channels, MaxChannels)
	}
	start, err := w.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("wav: finding header offset: %w", err)
	}
	var h [headerSize]byte
	le := binary.LittleEndian
	copy(h[0:], "RIFF")
	le.PutUint32(h[offRIFFSize:], headerSize-8)
	copy(h[8:], "WAVE")
	copy(h[12:], "fmt ")
	le.PutUint32(h[16:], 18)
	le.PutUint16(h[20:], tagFloat)
	le.PutUint16(h[22:], uint16(channels))
	le.PutUint32(h[24:], uint32(rate))
	le.PutUint32(h[28:], uint32(rate*channels*4))
	le.PutUint16(h[32:], uint16(channels*4))
	le.PutUint16(h[34:], 32)
	le.PutUint16(h[36:], 0) // cbSize: no extension, but present as non-PCM requires
	copy(h[38:], "fact")
	le.PutUint32(h[42:], 4)
	le.PutUint32(h[offFact:], 0) // frames, patched by Close
	copy(h[50:], "data")
	le.PutUint32(h[offDataSize:], 0) // patched by Close
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("wav: writing header: %w", err)
	}
	return &Writer{w: w, start: start, channels: channels}, nil
}

// Write appends frames frames from planar[c][:frames].
func (w *Writer) Write(planar [][]float32, frames int) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("wav: write after Close")
	}
	if len(planar) != w.channels {
		return fmt.Errorf("wav: write of %d channels to a %d-channel file", len(planar), w.channels)
	}
	for c, p := range planar {
		if len(p) < frames {
			return fmt.Errorf("wav: write of %d frames, channel %d has only %d", frames, c, len(p))
		}
	}
	if frames < 0 {
		return fmt.Errorf("wav: write of %d frames", frames)
	}
	for done := 0; done < frames; {
		n := min(frames-done, max(1, readBufBytes/(4*w.channels)))
		nb := n * w.channels * 4
		if w.data+int64(nb) > maxDataBytes {
			w.err = errors.New("wav: data exceeds the 4 GiB RIFF limit")
			return w.err
		}
		if len(w.buf) < nb {
			w.buf = make([]byte, nb)
		}
		b := w.buf[:nb]
		for c, p := range planar {
			off := c * 4
			for _, v := range p[done : done+n] {
				binary.LittleEndian.PutUint32(b[off:], math.Float32bits(v))
				off += w.channels * 4
			}
		}
		if _, err := w.w.Write(b); err != nil {
			w.err = fmt.Errorf("wav: writing samples: %w", err)
			return w.err
		}
		w.data += int64(nb)
		done += n
	}
	return nil
}

// Close patches the RIFF, fact and data sizes and leaves w positioned at
// the end of the data. It does not close w.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	patch := func(off int64, v uint32) error {
		if _, err := w.w.Seek(w.start+off, io.SeekStart); err != nil {
			return err
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], v)
		_, err := w.w.Write(b[:])
		return err
	}
	frames := w.data / int64(4*w.channels)
	for _, p := range []struct {
		off int64
		v   uint32
	}{
		{offRIFFSize, uint32(headerSize - 8 + w.data)},
		{offFact, uint32(frames)},
		{offDataSize, uint32(w.data)},
	} {
		if err := patch(p.off, p.v); err != nil {
			w.err = fmt.Errorf("wav: patching header sizes: %w", err)
			return w.err
		}
	}
	if _, err := w.w.Seek(w.start+headerSize+w.data, io.SeekStart); err != nil {
		w.err = fmt.Errorf("wav: seeking to end: %w", err)
		return w.err
	}
	return nil
}

// WriteFile writes planar float32 samples to a new WAV file at path.
func WriteFile(path string, rate int, planar [][]float32) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write %s: %w", path, cerr)
		}
	}()
	w, err := NewWriter(f, rate, len(planar))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	frames := 0
	if len(planar) > 0 {
		frames = len(planar[0])
	}
	if err := w.Write(planar, frames); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
