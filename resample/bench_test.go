package resample

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchProcess measures the engine's real case: one device period of 256
// input frames per call at a ratio near 1 that changes every call. It
// reports "x_rt/ch": seconds of one 48 kHz channel processed per second of
// one core, i.e. frames·channels / 48000 / elapsed.
func benchProcess(b *testing.B, ch int, q Quality, k Kernel) {
	r, err := New(ch, q)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.SetKernel(k); err != nil {
		b.Skip(err)
	}
	const block = 256
	rng := rand.New(rand.NewPCG(5, 6))
	in := make([][]float32, ch)
	out := make([][]float32, ch)
	view := make([][]float32, ch)
	for c := range in {
		in[c] = make([]float32, block)
		for i := range in[c] {
			in[c][i] = float32(rng.Float64() - 0.5)
		}
		out[c] = make([]float32, r.MaxOutput(block))
	}
	ratios := [2]float64{1.0001, 1.0001 - 1e-7}
	frames := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.SetRatio(ratios[i&1])
		n := r.OutputFor(block)
		for c := range view {
			view[c] = out[c][:n]
		}
		_, p := r.Process(in, view)
		frames += p
	}
	b.ReportMetric(float64(frames)*float64(ch)/48000/b.Elapsed().Seconds(), "x_rt/ch")
}

func BenchmarkProcess(b *testing.B) {
	for _, q := range []Quality{Fast, Default, Best} {
		for _, k := range []Kernel{KernelAVX2, KernelScalar} {
			for _, ch := range []int{1, 2, 8} {
				b.Run(fmt.Sprintf("%v/%v/%dch", q, k, ch), func(b *testing.B) {
					benchProcess(b, ch, q, k)
				})
			}
		}
	}
}
