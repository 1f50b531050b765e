package resample

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzProcess drives a resampler with ratios, block sizes and output sizes
// taken from the fuzz input and checks the counters: Process never
// consumes or produces more than it was given room for, writes nothing
// past what it reports, produces exactly OutputFor when out is large
// enough, and Delay stays within the filter's span.
func FuzzProcess(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 1, 0, 0xff, 0x10, 0x20, 0x30})
	f.Add([]byte{2, 0x80, 0xff, 0xff, 0, 0, 7, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		q := Quality(int(data[0]) % 3)
		ch := 1 + int(data[1])%3
		var r *Resampler
		var err error
		if data[1]&0x80 != 0 {
			r, err = NewRates(ch, 44100, 48000, q)
		} else {
			r, err = New(ch, q)
		}
		if err != nil {
			t.Fatal(err)
		}
		if data[0]&0x80 != 0 {
			r.SetKernel(KernelScalar)
		}
		data = data[2:]
		in := make([][]float32, ch)
		out := make([][]float32, ch)
		for c := range in {
			in[c] = make([]float32, 9000)
			for i := range in[c] {
				in[c][i] = float32(math.Sin(float64(i)*0.1 + float64(c)))
			}
			out[c] = make([]float32, 12000)
		}
		var consumed, produced int64
		for len(data) >= 6 {
			dev := float64(int16(binary.LittleEndian.Uint16(data))) / 32768 * 0.2 // ±10 %
			nin := int(binary.LittleEndian.Uint16(data[2:])) % 9000
			nout := int(binary.LittleEndian.Uint16(data[4:])) % 12000
			data = data[6:]
			ratio := r.setup * (1 + dev)
			if err := r.SetRatio(ratio); err != nil && math.Abs(dev) <= MaxRatioDeviation {
				t.Fatalf("SetRatio(%g): %v", ratio, err)
			}
			want := r.OutputFor(nin)
			ins := make([][]float32, ch)
			outs := make([][]float32, ch)
			for c := range in {
				ins[c] = in[c][:nin]
				outs[c] = out[c][:nout]
				for i := range out[c] {
					out[c][i] = float32(math.NaN())
				}
			}
			cons, prod := r.Process(ins, outs)
			if cons < 0 || cons > nin || prod < 0 || prod > nout {
				t.Fatalf("Process(%d in, %d out) = %d, %d", nin, nout, cons, prod)
			}
			if nout >= want && (prod != want || (cons != nin && nin <= chunk)) {
				t.Fatalf("Process(%d in, %d out) = %d, %d; OutputFor said %d", nin, nout, cons, prod, want)
			}
			for c := range out {
				for i := 0; i < len(out[c]); i++ {
					if isNaN := out[c][i] != out[c][i]; isNaN != (i >= prod) {
						t.Fatalf("channel %d frame %d: written=%v, produced %d", c, i, !isNaN, prod)
					}
				}
			}
			consumed += int64(cons)
			produced += int64(prod)
			if d := r.Delay(); d < -1 || d > float64(r.Taps()+chunk) {
				t.Fatalf("Delay() = %g out of range", d)
			}
		}
		if r.Consumed() != consumed || r.Produced() != produced {
			t.Fatalf("counters %d/%d, want %d/%d", r.Consumed(), r.Produced(), consumed, produced)
		}
	})
}
