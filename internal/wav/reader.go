package wav

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Format describes the sample data of a WAV file.
type Format struct {
	Rate     int  // frames per second
	Channels int  // samples per frame
	Bits     int  // container bits per sample: 8, 16, 24, 32 or 64
	Float    bool // IEEE float samples (32 or 64 bits)
}

// Format tags from mmreg.h.
const (
	tagPCM        = 0x0001
	tagFloat      = 0x0003
	tagExtensible = 0xFFFE
)

// MaxChannels bounds the channel count a header may claim, so a hostile
// header cannot make the reader allocate absurd buffers.
const MaxChannels = 1024

// readBufBytes bounds the reader's internal byte buffer.
const readBufBytes = 64 << 10

// Sizes that streaming writers leave in place of the real data size when
// their output cannot be seeked back to.
const (
	sizeUnknown32 = 0xFFFFFFFF
	sizeSoxStream = 0x7FFFF000 // sox writing to a pipe, rounded down to whole frames
)

// guidSuffix is the common tail of the KSDATAFORMAT_SUBTYPE_* GUIDs; the
// first two bytes of the sub-format GUID hold the plain format tag.
var guidSuffix = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// Reader decodes the sample data of a WAV stream.
type Reader struct {
	r         io.Reader
	f         Format
	frameSize int   // bytes per frame
	remaining int64 // data bytes left, -1 when unknown (read to EOF)
	frames    int64 // -1 when unknown
	buf       []byte
	err       error // sticky: io.EOF or a read error
}

// NewReader parses the RIFF/WAVE header up to the start of the data chunk.
// The returned Reader reads sample frames from r.
func NewReader(r io.Reader) (*Reader, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("wav: truncated RIFF header (%w)", err)
		}
		return nil, fmt.Errorf("wav: reading RIFF header: %w", err)
	}
	rf64 := false
	switch string(hdr[0:4]) {
	case "RIFF":
	case "RF64":
		rf64 = true
	case "RIFX":
		return nil, errors.New("wav: big-endian RIFX files are not supported")
	default:
		return nil, fmt.Errorf("wav: not a RIFF file (starts with %q)", hdr[0:4])
	}
	if string(hdr[8:12]) != "WAVE" {
		return nil, fmt.Errorf("wav: RIFF form type %q, want \"WAVE\"", hdr[8:12])
	}

	riffSize := binary.LittleEndian.Uint32(hdr[4:8])
	pos := int64(12) // bytes consumed so far
	rd := &Reader{r: r}
	haveFmt := false
	ds64Data := int64(-1)
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				if !haveFmt {
					return nil, errors.New("wav: no fmt chunk before end of file")
				}
				return nil, errors.New("wav: no data chunk before end of file")
			}
			return nil, fmt.Errorf("wav: reading chunk header: %w", err)
		}
		id := string(ch[0:4])
		size := binary.LittleEndian.Uint32(ch[4:8])
		pos += 8
		switch id {
		case "fmt ":
			if haveFmt {
				return nil, errors.New("wav: second fmt chunk")
			}
			if err := rd.parseFmt(size); err != nil {
				return nil, err
			}
			haveFmt = true
		case "ds64":
			v, err := readDS64(r, size)
			if err != nil {
				return nil, err
			}
			if rf64 {
				ds64Data = v
			}
		case "data":
			if !haveFmt {
				return nil, errors.New("wav: data chunk before fmt chunk")
			}
			n := int64(size)
			switch {
			case size == sizeUnknown32 && ds64Data >= 0:
				n = ds64Data
			case size == 0 && !rf64 && riffSize != sizeUnknown32 && int64(riffSize)+8 == pos:
				// A patched header of a file with no frames: the RIFF
				// size ends right here.
				n = 0
			case size == 0, size == sizeUnknown32,
				size <= sizeSoxStream && size > sizeSoxStream-uint32(rd.frameSize):
				// sox rounds its placeholder down to whole frames.
				n = -1
			}
			rd.remaining = -1
			rd.frames = -1
			if n >= 0 {
				rd.frames = n / int64(rd.frameSize)
				rd.remaining = rd.frames * int64(rd.frameSize)
			}
			return rd, nil
		default:
			if err := skip(r, int64(size)+int64(size&1)); err != nil {
				return nil, fmt.Errorf("wav: skipping %q chunk of %d bytes: %w", id, size, err)
			}
		}
		pos += int64(size) + int64(size&1)
	}
}

// skip discards n bytes of r. A short stream is an error.
func skip(r io.Reader, n int64) error {
	got, err := io.CopyN(io.Discard, r, n)
	if err == io.EOF {
		return fmt.Errorf("end of file after %d bytes", got)
	}
	return err
}

// readDS64 reads RF64's ds64 chunk and returns the 64-bit data size.
func readDS64(r io.Reader, size uint32) (int64, error) {
	if size < 24 {
		return 0, fmt.Errorf("wav: truncated ds64 chunk (%d bytes, need 24)", size)
	}
	var b [24]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, fmt.Errorf("wav: truncated ds64 chunk: %w", err)
	}
	if err := skip(r, int64(size)-24+int64(size&1)); err != nil {
		return 0, fmt.Errorf("wav: truncated ds64 chunk: %w", err)
	}
	v := binary.LittleEndian.Uint64(b[8:16])
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("wav: ds64 data size %d out of range", v)
	}
	return int64(v), nil
}

func (rd *Reader) parseFmt(size uint32) error {
	if size < 16 {
		return fmt.Errorf("wav: truncated fmt chunk (%d bytes, need 16)", size)
	}
	var b [40]byte
	n := min(int(size), len(b))
	if _, err := io.ReadFull(rd.r, b[:n]); err != nil {
		return fmt.Errorf("wav: truncated fmt chunk: %w", err)
	}
	if rest := int64(size) - int64(n) + int64(size&1); rest > 0 {
		if err := skip(rd.r, rest); err != nil {
			return fmt.Errorf("wav: truncated fmt chunk: %w", err)
		}
	}
	tag := binary.LittleEndian.Uint16(b[0:2])
	channels := int(binary.LittleEndian.Uint16(b[2:4]))
	rate := binary.LittleEndian.Uint32(b[4:8])
	blockAlign := int(binary.LittleEndian.Uint16(b[12:14]))
	bits := int(binary.LittleEndian.Uint16(b[14:16]))

	if tag == tagExtensible {
		if n < 40 {
			return fmt.Errorf("wav: truncated WAVE_FORMAT_EXTENSIBLE fmt chunk (%d bytes, need 40)", size)
		}
		if [14]byte(b[26:40]) != guidSuffix {
			return fmt.Errorf("wav: unsupported WAVE_FORMAT_EXTENSIBLE sub-format GUID %x", b[24:40])
		}
		tag = binary.LittleEndian.Uint16(b[24:26])
	}
	switch tag {
	case tagPCM:
		if bits != 8 && bits != 16 && bits != 24 && bits != 32 {
			return fmt.Errorf("wav: unsupported PCM sample size of %d bits (want 8, 16, 24 or 32)", bits)
		}
	case tagFloat:
		if bits != 32 && bits != 64 {
			return fmt.Errorf("wav: unsupported IEEE float sample size of %d bits (want 32 or 64)", bits)
		}
	default:
		return fmt.Errorf("wav: unsupported format tag 0x%04X (%s)", tag, tagName(tag))
	}
	if channels == 0 {
		return errors.New("wav: fmt chunk declares 0 channels")
	}
	if channels > MaxChannels {
		return fmt.Errorf("wav: fmt chunk declares %d channels, more than the %d supported", channels, MaxChannels)
	}
	if rate == 0 || rate > math.MaxInt32 {
		return fmt.Errorf("wav: invalid sample rate %d", rate)
	}
	frameSize := channels * bits / 8
	if blockAlign != frameSize {
		return fmt.Errorf("wav: block align %d, want %d for %d channels of %d bits", blockAlign, frameSize, channels, bits)
	}
	rd.f = Format{Rate: int(rate), Channels: channels, Bits: bits, Float: tag == tagFloat}
	rd.frameSize = frameSize
	return nil
}

func tagName(tag uint16) string {
	switch tag {
	case 0x0000:
		return "unknown"
	case 0x0002:
		return "MS ADPCM"
	case 0x0006:
		return "A-law"
	case 0x0007:
		return "mu-law"
	case 0x0011:
		return "IMA ADPCM"
	case 0x0031:
		return "GSM 6.10"
	case 0x0050:
		return "MPEG"
	case 0x0055:
		return "MPEG Layer 3"
	case 0x00FF:
		return "AAC"
	case 0x2000:
		return "AC-3"
	case 0xF1AC:
		return "FLAC"
	case tagExtensible:
		return "nested WAVE_FORMAT_EXTENSIBLE"
	}
	return "not PCM or IEEE float"
}

// Format returns the format of the sample data.
func (rd *Reader) Format() Format { return rd.f }

// Frames returns the number of frames the header declares, or -1 when the
// writer left the size unpatched and the data runs to end of file.
func (rd *Reader) Frames() int64 { return rd.frames }

// Read reads up to min(len(planar[c])) frames into planar[c][:n], one slice
// per channel. It returns io.EOF (and n == 0) at the end of the data. A
// file shorter than its header says ends early without error, as a capture
// that was killed leaves it; a partial last frame is dropped.
func (rd *Reader) Read(planar [][]float32) (int, error) { return read(rd, planar) }

// ReadFloat64 is Read into float64, which holds 32-bit integer samples
// exactly.
func (rd *Reader) ReadFloat64(planar [][]float64) (int, error) { return read(rd, planar) }

func read[T float32 | float64](rd *Reader, planar [][]T) (int, error) {
	if len(planar) != rd.f.Channels {
		return 0, fmt.Errorf("wav: read into %d channel buffers, file has %d channels", len(planar), rd.f.Channels)
	}
	want := len(planar[0])
	for _, p := range planar[1:] {
		want = min(want, len(p))
	}
	if rd.err != nil {
		return 0, rd.err
	}
	if rd.remaining == 0 {
		rd.err = io.EOF
		return 0, io.EOF
	}
	if want == 0 {
		return 0, nil
	}
	n := min(want, max(1, readBufBytes/rd.frameSize))
	if rd.remaining > 0 {
		n = int(min(int64(n), rd.remaining/int64(rd.frameSize)))
	}
	nb := n * rd.frameSize
	if len(rd.buf) < nb {
		rd.buf = make([]byte, nb)
	}
	got, err := io.ReadFull(rd.r, rd.buf[:nb])
	frames := got / rd.frameSize
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		rd.err = io.EOF
	case err != nil:
		rd.err = fmt.Errorf("wav: reading samples: %w", err)
	}
	if frames == 0 {
		return 0, rd.err
	}
	decode(planar, rd.buf[:frames*rd.frameSize], rd.f)
	if rd.remaining > 0 {
		rd.remaining -= int64(frames * rd.frameSize)
	}
	return frames, nil
}

// decode converts interleaved little-endian samples in src into planar dst.
// Integer scaling multiplies by a power of two, which is exact in float64,
// so the only rounding is the final conversion to T.
func decode[T float32 | float64](dst [][]T, src []byte, f Format) {
	ch := f.Channels
	bps := f.Bits / 8
	frames := len(src) / (ch * bps)
	for c := range ch {
		d := dst[c][:frames]
		off := c * bps
		step := ch * bps
		switch {
		case f.Float && f.Bits == 32:
			for i := range d {
				d[i] = T(math.Float32frombits(binary.LittleEndian.Uint32(src[off:])))
				off += step
			}
		case f.Float && f.Bits == 64:
			for i := range d {
				d[i] = T(math.Float64frombits(binary.LittleEndian.Uint64(src[off:])))
				off += step
			}
		case f.Bits == 8: // unsigned, 128 is zero
			for i := range d {
				d[i] = T(float64(int(src[off])-128) * 0x1p-7)
				off += step
			}
		case f.Bits == 16:
			for i := range d {
				d[i] = T(float64(int16(binary.LittleEndian.Uint16(src[off:]))) * 0x1p-15)
				off += step
			}
		case f.Bits == 24:
			for i := range d {
				v := int32(uint32(src[off])<<8|uint32(src[off+1])<<16|uint32(src[off+2])<<24) >> 8
				d[i] = T(float64(v) * 0x1p-23)
				off += step
			}
		case f.Bits == 32:
			for i := range d {
				d[i] = T(float64(int32(binary.LittleEndian.Uint32(src[off:]))) * 0x1p-31)
				off += step
			}
		}
	}
}

// ReadFile reads a whole WAV file into planar float64 samples.
func ReadFile(path string) (Format, [][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return Format{}, nil, err
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	format, data, err := ReadAll(bufio.NewReaderSize(f, 1<<16), size)
	if err != nil {
		return Format{}, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return format, data, nil
}

// ReadAll reads a whole WAV stream into planar float64 samples. sizeHint is
// the stream's length in bytes if known (else -1); it only bounds how much
// is allocated ahead, so a header cannot claim more memory than the stream
// could fill.
func ReadAll(r io.Reader, sizeHint int64) (Format, [][]float64, error) {
	rd, err := NewReader(r)
	if err != nil {
		return Format{}, nil, err
	}
	f := rd.Format()
	capFrames := int64(0)
	if rd.Frames() >= 0 && sizeHint >= 0 {
		capFrames = min(rd.Frames(), sizeHint/int64(rd.frameSize))
	}
	out := make([][]float64, f.Channels)
	for c := range out {
		out[c] = make([]float64, 0, capFrames)
	}
	chunk := max(1, (64<<10)/f.Channels)
	tmp := make([][]float64, f.Channels)
	for c := range tmp {
		tmp[c] = make([]float64, chunk)
	}
	for {
		n, err := rd.ReadFloat64(tmp)
		for c := range out {
			out[c] = append(out[c], tmp[c][:n]...)
		}
		if err == io.EOF {
			return f, out, nil
		}
		if err != nil {
			return Format{}, nil, err
		}
	}
}
