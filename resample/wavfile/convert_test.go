package wavfile

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgbridge/sgbridge/internal/wav"
	"github.com/sgbridge/sgbridge/resample"
)

// writePCM16 writes a minimal 16-bit PCM WAV file (the wav package only
// writes float32), to cover integer input.
func writePCM16(t *testing.T, path string, rate int, planar [][]float32) {
	t.Helper()
	ch, n := len(planar), len(planar[0])
	data := make([]byte, 44+2*ch*n)
	copy(data, "RIFF")
	binary.LittleEndian.PutUint32(data[4:], uint32(len(data)-8))
	copy(data[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(data[16:], 16)
	binary.LittleEndian.PutUint16(data[20:], 1)
	binary.LittleEndian.PutUint16(data[22:], uint16(ch))
	binary.LittleEndian.PutUint32(data[24:], uint32(rate))
	binary.LittleEndian.PutUint32(data[28:], uint32(rate*ch*2))
	binary.LittleEndian.PutUint16(data[32:], uint16(ch*2))
	binary.LittleEndian.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	binary.LittleEndian.PutUint32(data[40:], uint32(2*ch*n))
	for i := 0; i < n; i++ {
		for c := 0; c < ch; c++ {
			v := int16(math.Round(float64(planar[c][i]) * 32767))
			binary.LittleEndian.PutUint16(data[44+2*(i*ch+c):], uint16(v))
		}
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func tone(n int, freq, rate, amp float64) []float32 {
	y := make([]float32, n)
	for i := range y {
		y[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/rate))
	}
	return y
}

// maxError compares out (at outRate) with the ideal tone in the middle of
// the file, where the edges' silence does not reach. Output frame n must
// sit at input time n/ratio: the file conversion is time-aligned.
func maxError(out []float64, freq, outRate, amp float64) float64 {
	worst := 0.0
	for n := len(out) / 4; n < 3*len(out)/4; n++ {
		want := amp * math.Sin(2*math.Pi*freq*float64(n)/outRate)
		worst = max(worst, math.Abs(out[n]-want))
	}
	return worst
}

func TestConvert(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		pcm16   bool
		inRate  int
		opts    Options
		outRate int
		tol     float64
	}{
		{"float 48k->44.1k", false, 48000, Options{Rate: 44100}, 44100, 1e-6},
		{"float 44.1k->96k", false, 44100, Options{Rate: 96000, Quality: resample.Best}, 96000, 1e-6},
		{"pcm16 48k ratio 0.5", true, 48000, Options{Ratio: 0.5}, 24000, 1e-4},
		{"float ratio 1.0001", false, 48000, Options{Ratio: 1.0001}, 48005, 1e-6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const n = 20000
			in := filepath.Join(dir, "in.wav")
			outPath := filepath.Join(dir, "out.wav")
			planar := [][]float32{tone(n, 1000, float64(tc.inRate), 0.5), tone(n, 3000, float64(tc.inRate), 0.25)}
			if tc.pcm16 {
				writePCM16(t, in, tc.inRate, planar)
			} else if err := wav.WriteFile(in, tc.inRate, planar); err != nil {
				t.Fatal(err)
			}
			var calls int
			var last int64
			tc.opts.Progress = func(done, total int64) {
				calls++
				if done < last {
					t.Errorf("progress went back: %d after %d", done, last)
				}
				last = done
			}
			if err := Convert(context.Background(), in, outPath, tc.opts); err != nil {
				t.Fatal(err)
			}
			if calls == 0 || last != n {
				t.Errorf("progress: %d calls, last %d, want final %d", calls, last, n)
			}
			f, out, err := wav.ReadFile(outPath)
			if err != nil {
				t.Fatal(err)
			}
			ratio := float64(tc.outRate) / float64(tc.inRate)
			if tc.opts.Ratio > 0 {
				ratio = tc.opts.Ratio
			}
			wantFrames := int(math.Ceil(n * ratio))
			if f.Rate != tc.outRate || f.Channels != 2 || !f.Float || f.Bits != 32 || len(out[0]) != wantFrames {
				t.Fatalf("output %+v with %d frames, want %d Hz float32 stereo, %d frames", f, len(out[0]), tc.outRate, wantFrames)
			}
			outRate := float64(tc.inRate) * ratio
			e0 := maxError(out[0], 1000, outRate, 0.5)
			e1 := maxError(out[1], 3000, outRate, 0.25)
			t.Logf("max error vs ideal: %.2g, %.2g", e0, e1)
			if e0 > tc.tol || e1 > tc.tol {
				t.Errorf("output differs from the ideal tone by %.3g / %.3g, want <= %g", e0, e1, tc.tol)
			}
		})
	}
}

func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.wav")
	if err := wav.WriteFile(good, 48000, [][]float32{tone(100, 1000, 48000, 0.5)}); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.wav")
	os.WriteFile(junk, []byte("this is not a RIFF file at all, not even close"), 0o644)
	out := filepath.Join(dir, "out.wav")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		in   string
		out  string
		opts Options
		want string
	}{
		{"missing input", context.Background(), filepath.Join(dir, "nope.wav"), out, Options{Rate: 44100}, "no such file"},
		{"not a wav", context.Background(), junk, out, Options{Rate: 44100}, "junk.wav"},
		{"no rate or ratio", context.Background(), good, out, Options{}, "exactly one"},
		{"both", context.Background(), good, out, Options{Rate: 44100, Ratio: 2}, "exactly one"},
		{"ratio too large", context.Background(), good, out, Options{Ratio: 100}, "range"},
		{"ratio NaN", context.Background(), good, out, Options{Ratio: math.NaN()}, "exactly one"},
		{"same file", context.Background(), good, good, Options{Rate: 44100}, "is the input"},
		{"output dir missing", context.Background(), good, filepath.Join(dir, "no", "out.wav"), Options{Rate: 44100}, "output: open"},
		{"cancelled", cancelled, good, out, Options{Rate: 44100}, "canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Convert(tc.ctx, tc.in, tc.out, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Convert error = %v, want one line containing %q", err, tc.want)
			}
			if _, serr := os.Stat(out); serr == nil && tc.out == out {
				t.Errorf("partial output %s left behind", out)
			}
		})
	}
}
