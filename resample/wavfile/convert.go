package wavfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/sgbridge/sgbridge/internal/wav"
	"github.com/sgbridge/sgbridge/resample"
)

// Options says what Convert does. Exactly one of Rate and Ratio is set.
type Options struct {
	// Rate is the output sample rate in Hz; the conversion steps exactly
	// by the reduced fraction of the two rates.
	Rate int
	// Ratio is output rate / input rate. The output file's header rate is
	// the input rate times Ratio, rounded; the audio is resampled by Ratio
	// itself.
	Ratio float64
	// Quality is the resampler preset.
	Quality resample.Quality
	// Progress, if not nil, is called after every block with the input
	// frames read so far and the total (-1 when the file does not say).
	Progress func(done, total int64)
}

// block is how many input frames Convert reads at a time.
const block = 8192

// Convert resamples the WAV file inPath into a float32 WAV file at outPath.
// On error it removes the partial output. The output is time-aligned with
// the input (the filter delay is compensated) and holds
// ceil(input frames · ratio) frames.
func Convert(ctx context.Context, inPath, outPath string, opts Options) (err error) {
	if (opts.Rate > 0) == (opts.Ratio > 0) || opts.Rate < 0 || opts.Ratio < 0 || math.IsNaN(opts.Ratio) {
		return errors.New("give exactly one of a positive output rate or a positive ratio")
	}
	if a, b := absPath(inPath), absPath(outPath); a == b {
		return fmt.Errorf("output %s is the input file", outPath)
	}
	in, err := os.Open(inPath)
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	defer in.Close()
	rd, err := wav.NewReader(in)
	if err != nil {
		return fmt.Errorf("read %s: %w", inPath, err)
	}
	f := rd.Format()
	if f.Rate <= 0 || f.Channels <= 0 {
		return fmt.Errorf("read %s: no sample rate or channels in the header", inPath)
	}
	outRate := opts.Rate
	ratio := float64(opts.Rate) / float64(f.Rate)
	if opts.Ratio > 0 {
		ratio = opts.Ratio
		outRate = int(math.Round(float64(f.Rate) * ratio))
		if math.IsInf(ratio, 0) || outRate <= 0 {
			return fmt.Errorf("ratio %g is out of range for a %d Hz input", opts.Ratio, f.Rate)
		}
	}
	rs, err := resample.NewRates(f.Channels, f.Rate, outRate, opts.Quality)
	if err != nil {
		return fmt.Errorf("%s: %w", inPath, err)
	}
	if opts.Ratio > 0 && ratio != float64(outRate)/float64(f.Rate) {
		if err := rs.SetRatio(ratio); err != nil {
			return err
		}
	}

	out, err := os.Create(outPath)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", outPath, cerr)
		}
		if err != nil {
			os.Remove(outPath)
		}
	}()
	wr, err := wav.NewWriter(out, outRate, f.Channels)
	if err != nil {
		return fmt.Errorf("write %s: %w", outPath, err)
	}

	ch := f.Channels
	inBuf := make([][]float32, ch)
	outBuf := make([][]float32, ch)
	view := make([][]float32, ch)
	for c := range inBuf {
		inBuf[c] = make([]float32, block)
		outBuf[c] = make([]float32, rs.MaxOutput(block))
	}
	total := rd.Frames()
	var read, written int64
	var want int64 = -1 // output frames to write, known at end of input
	for want < 0 || written < want {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := 0
		if want < 0 {
			n, err = rd.Read(inBuf)
			if err == io.EOF {
				want = int64(math.Ceil(float64(read) * ratio))
				err = nil
			} else if err != nil {
				return fmt.Errorf("read %s: %w", inPath, err)
			}
		}
		if want >= 0 {
			// Past the end: push silence through the filter tail.
			n = block
			for c := range inBuf {
				clear(inBuf[c])
			}
		} else {
			read += int64(n)
		}
		for c := range inBuf {
			view[c] = inBuf[c][:n]
		}
		_, prod := rs.Process(view, outBuf)
		if want >= 0 {
			prod = int(min(int64(prod), want-written))
		}
		if err := wr.Write(outBuf, prod); err != nil {
			return fmt.Errorf("write %s: %w", outPath, err)
		}
		written += int64(prod)
		if opts.Progress != nil && n > 0 && want < 0 {
			opts.Progress(read, total)
		}
	}
	if err := wr.Close(); err != nil {
		return fmt.Errorf("write %s: %w", outPath, err)
	}
	if opts.Progress != nil {
		opts.Progress(read, read)
	}
	return nil
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return filepath.Clean(a)
}
