package resample

import (
	"math"
	"math/rand/v2"
	"testing"
)

// kernels returns the kernels this machine can run, for subtests.
func kernels() []Kernel {
	if haveAVX2 {
		return []Kernel{KernelScalar, KernelAVX2}
	}
	return []Kernel{KernelScalar}
}

// snapshot is the state before one block: the next output frame index and
// its input time (consumed - Delay), and the ratio used for the block.
type snapshot struct {
	out   int
	time  float64
	ratio float64
}

// drive runs in (planar) through r in blocks of block frames, calling
// ratio(i) before block i when ratio is not nil. It returns the output and
// one snapshot per block.
func drive(t testing.TB, r *Resampler, in [][]float32, block int, ratio func(i int) float64) ([][]float32, []snapshot) {
	t.Helper()
	ch := len(in)
	total := r.MaxOutput(len(in[0]))
	out := make([][]float32, ch)
	for c := range out {
		out[c] = make([]float32, 0, total)
	}
	blkIn := make([][]float32, ch)
	blkOut := make([][]float32, ch)
	tmp := make([][]float32, ch)
	for c := range tmp {
		tmp[c] = make([]float32, r.MaxOutput(block))
	}
	var snaps []snapshot
	for i, off := 0, 0; off < len(in[0]); i++ {
		if ratio != nil {
			if err := r.SetRatio(ratio(i)); err != nil {
				t.Fatal(err)
			}
		}
		n := min(block, len(in[0])-off)
		for c := range in {
			blkIn[c] = in[c][off : off+n]
		}
		want := r.OutputFor(n)
		snaps = append(snaps, snapshot{out: len(out[0]), time: float64(r.Consumed()) - r.Delay(), ratio: r.Ratio()})
		for c := range tmp {
			blkOut[c] = tmp[c][:want]
		}
		cons, prod := r.Process(blkIn, blkOut)
		if cons != n || prod != want {
			t.Fatalf("block %d: Process(%d in, %d out) = %d, %d; want all consumed and %d produced", i, n, want, cons, prod, want)
		}
		for c := range out {
			out[c] = append(out[c], blkOut[c][:prod]...)
		}
		off += n
	}
	return out, snaps
}

func sine(n int, freq, rate, amp, phase float64) []float32 {
	y := make([]float32, n)
	w := 2 * math.Pi * freq / rate
	for i := range y {
		y[i] = float32(amp * math.Sin(w*float64(i)+phase))
	}
	return y
}

func newT(t testing.TB, ch int, q Quality, k Kernel) *Resampler {
	t.Helper()
	r, err := New(ch, q)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetKernel(k); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTHDN is the headline target: default preset, ratio 1.0001 in variable
// mode, 48 kHz, -6 dBFS sine.
func TestTHDN(t *testing.T) {
	tests := []struct {
		q     Quality
		freq  float64
		limit float64 // dB
	}{
		{Default, 1000, -140},
		{Default, 20000, -125},
		{Default, 10000, -130},
		{Best, 1000, -140},
		{Best, 20000, -125},
		{Fast, 1000, -95},
	}
	const ratio = 1.0001
	for _, k := range kernels() {
		for _, tc := range tests {
			r := newT(t, 1, tc.q, k)
			in := sine(24000, tc.freq, 48000, 0.5, 0.1)
			out, _ := drive(t, r, [][]float32{in}, 256, func(int) float64 { return ratio })
			seg := out[0][500 : 500+16384]
			f := fitSine(seg, 2*math.Pi*tc.freq/48000/ratio)
			d := f.thdn()
			t.Logf("%v %v %5.0f Hz: THD+N %.1f dB (limit %.0f)", k, tc.q, tc.freq, d, tc.limit)
			if d > tc.limit {
				t.Errorf("%v %v %g Hz: THD+N %.1f dB > %.0f dB", k, tc.q, tc.freq, d, tc.limit)
			}
		}
	}
}

// TestPassband: flat within ±0.01 dB to 20 kHz at 48 kHz.
func TestPassband(t *testing.T) {
	r := newT(t, 1, Default, KernelAuto)
	worst := 0.0
	for _, freq := range []float64{20, 100, 1000, 5000, 10000, 15000, 18000, 19000, 19500, 20000} {
		r.Reset()
		in := sine(12000, freq, 48000, 0.5, 0)
		out, _ := drive(t, r, [][]float32{in}, 256, func(int) float64 { return 1.0001 })
		f := fitSine(out[0][200:11000], 2*math.Pi*freq/48000/1.0001)
		g := 20 * math.Log10(f.amp/0.5)
		t.Logf("%5.0f Hz: %+.7f dB", freq, g)
		if math.Abs(g) > math.Abs(worst) {
			worst = g
		}
		if math.Abs(g) > 0.01 {
			t.Errorf("%g Hz: gain %+.4f dB, want within ±0.01 dB", freq, g)
		}
	}
	t.Logf("worst pass-band deviation %+.7f dB", worst)
}

// TestImages: upsampling 48 -> 96 kHz, the image of a tone at f lands at
// 48 kHz - f, above fs - 20 kHz; it must be at least 120 dB down.
func TestImages(t *testing.T) {
	for _, freq := range []float64{1000, 10000, 19000, 20000} {
		r, err := NewRates(1, 48000, 96000, Default)
		if err != nil {
			t.Fatal(err)
		}
		in := sine(12000, freq, 48000, 0.5, 0)
		out, _ := drive(t, r, [][]float32{in}, 256, nil)
		seg := out[0][400:20400]
		w := 2 * math.Pi * freq / 96000
		wi := 2 * math.Pi * (48000 - freq) / 96000
		a := toneAmplitudes(seg, w, wi)
		rej := 20 * math.Log10(a[1]/a[0])
		t.Logf("tone %5.0f Hz: image at %5.0f Hz %.1f dB", freq, 48000-freq, rej)
		if rej > -120 {
			t.Errorf("tone %g Hz: image %.1f dB, want <= -120 dB", freq, rej)
		}
	}
}

// TestDownsampleStopband: 48 -> 44.1 kHz, a 23 kHz tone comes out <= -120 dB,
// and a 1 kHz tone is clean under exact rational stepping.
func TestDownsampleStopband(t *testing.T) {
	r, err := NewRates(1, 48000, 44100, Default)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := drive(t, r, [][]float32{sine(24000, 23000, 48000, 0.5, 0)}, 256, nil)
	seg := out[0][300:20000]
	ss := 0.0
	for _, v := range seg {
		ss += float64(v) * float64(v)
	}
	lvl := 20 * math.Log10(math.Sqrt(ss/float64(len(seg)))/(0.5/math.Sqrt2))
	t.Logf("48->44.1 kHz, 23 kHz tone: output %.1f dB (taps %d, phases %d)", lvl, r.Taps(), r.Phases())
	if lvl > -120 {
		t.Errorf("23 kHz tone leaks at %.1f dB, want <= -120 dB", lvl)
	}
	r.Reset()
	out, _ = drive(t, r, [][]float32{sine(24000, 1000, 48000, 0.5, 0)}, 256, nil)
	f := fitSine(out[0][300:16684], 2*math.Pi*1000/44100)
	t.Logf("48->44.1 kHz, 1 kHz tone: THD+N %.1f dB", f.thdn())
	if d := f.thdn(); d > -140 {
		t.Errorf("48->44.1 kHz 1 kHz THD+N %.1f dB > -140 dB", d)
	}
}

// TestModulatedRatio: ratio swept ±1000 ppm at 1 Hz, one new ratio per 256
// frame block. The output is compared with the ideal tone evaluated at the
// input times the resampler reports (consumed - Delay), so a click, a lost
// or repeated sample or a wrong Delay all show in the residual.
func TestModulatedRatio(t *testing.T) {
	const (
		rate  = 48000.0
		block = 256
		amp   = 0.5
	)
	for _, freq := range []float64{1000, 12000} {
		for _, k := range kernels() {
			r := newT(t, 1, Default, k)
			w := 2 * math.Pi * freq / rate
			in := sine(2*48000, freq, rate, amp, 0)
			ratio := func(i int) float64 {
				return 1 + 1e-3*math.Sin(2*math.Pi*float64(i*block)/rate)
			}
			out, snaps := drive(t, r, [][]float32{in}, block, ratio)
			y := out[0]
			ref := make([]float64, len(y))
			for i, s := range snaps {
				end := len(y)
				if i+1 < len(snaps) {
					end = snaps[i+1].out
				}
				for n := s.out; n < end; n++ {
					ref[n] = amp * math.Sin(w*(s.time+float64(n-s.out)/s.ratio))
				}
			}
			// Skip the start-up (history of silence); fit one gain for
			// the filter's pass-band gain at freq.
			lo := 200
			var yr, rr float64
			for n := lo; n < len(y); n++ {
				yr += float64(y[n]) * ref[n]
				rr += ref[n] * ref[n]
			}
			g := yr / rr
			peak, peakAt := 0.0, 0
			for n := lo; n < len(y); n++ {
				if e := math.Abs(float64(y[n]) - g*ref[n]); e > peak {
					peak, peakAt = e, n
				}
			}
			db := 20 * math.Log10(peak)
			t.Logf("%v %5.0f Hz: gain %.8f, peak residual %.1f dBFS at frame %d", k, freq, g, db, peakAt)
			if db > -120 {
				t.Errorf("%v %g Hz: residual peak %.1f dBFS > -120 dBFS at frame %d", k, freq, db, peakAt)
			}
		}
	}
}

// TestImpulseDelay: an impulse lands at the input time Delay() predicts,
// within 0.01 sample, and the default preset's delay is <= 48 frames.
func TestImpulseDelay(t *testing.T) {
	tests := []struct {
		name     string
		in, out  int // 0: variable mode
		ratio    float64
		maxDelay float64
	}{
		{"variable 1.0001", 0, 0, 1.0001, 48},
		{"variable 0.9995", 0, 0, 0.9995, 48},
		{"48k->44.1k", 48000, 44100, 0, 70},
		{"44.1k->48k", 44100, 48000, 0, 48},
	}
	for _, tc := range tests {
		for _, k0 := range []int{1000, 1001, 1234} {
			var r *Resampler
			var err error
			if tc.in == 0 {
				r, err = New(1, Default)
				if err == nil {
					err = r.SetRatio(tc.ratio)
				}
			} else {
				r, err = NewRates(1, tc.in, tc.out, Default)
			}
			if err != nil {
				t.Fatal(err)
			}
			in := make([]float32, 3000)
			in[k0] = 1
			out, snaps := drive(t, r, [][]float32{in}, 256, nil)
			step := 1 / r.Ratio()
			var num, den float64
			for i, s := range snaps {
				end := len(out[0])
				if i+1 < len(snaps) {
					end = snaps[i+1].out
				}
				for n := s.out; n < end; n++ {
					tn := s.time + float64(n-s.out)*step
					num += tn * float64(out[0][n])
					den += float64(out[0][n])
				}
			}
			got := num / den
			if math.Abs(got-float64(k0)) > 0.01 {
				t.Errorf("%s: impulse at %d lands at %.4f, want within 0.01", tc.name, k0, got)
			}
			d := r.Delay()
			if d > tc.maxDelay || d < 0 {
				t.Errorf("%s: Delay() = %.3f, want 0..%g", tc.name, d, tc.maxDelay)
			}
			if k0 == 1000 {
				t.Logf("%s: impulse centroid %.5f (error %.2g), Delay %.3f frames", tc.name, got, got-float64(k0), d)
			}
		}
	}
}

func TestKernelsAgree(t *testing.T) {
	if !haveAVX2 {
		t.Skip("AVX2/FMA not available on this CPU: only the scalar kernel runs")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		q  Quality
		ch int
	}{{Fast, 1}, {Default, 1}, {Default, 3}, {Best, 2}, {Fast, 3}} {
		q := tc.q
		in := make([][]float32, tc.ch)
		for c := range in {
			in[c] = make([]float32, 20000)
			for i := range in[c] {
				in[c][i] = float32(rng.Float64()*2 - 1)
			}
		}
		ratio := func(i int) float64 { return 1 + 0.04*math.Sin(float64(i)) }
		a, _ := drive(t, newT(t, tc.ch, q, KernelScalar), in, 300, ratio)
		b, _ := drive(t, newT(t, tc.ch, q, KernelAVX2), in, 300, ratio)
		worst := 0.0
		for c := range a {
			for i := range a[c] {
				worst = max(worst, math.Abs(float64(a[c][i]-b[c][i])))
			}
		}
		t.Logf("%v %d ch: max |scalar - avx2| = %.2g", q, tc.ch, worst)
		if worst > 1e-6 {
			t.Errorf("%v %d ch: kernels differ by %.3g > 1e-6", q, tc.ch, worst)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	for _, k := range kernels() {
		r := newT(t, 2, Default, k)
		in := [][]float32{make([]float32, 256), make([]float32, 256)}
		out := [][]float32{make([]float32, r.MaxOutput(256)), make([]float32, r.MaxOutput(256))}
		i := 0
		allocs := testing.AllocsPerRun(200, func() {
			i++
			r.SetRatio(1 + 1e-3*math.Sin(float64(i)))
			n := r.OutputFor(256)
			r.Process(in, [][]float32{out[0][:n], out[1][:n]}[:2])
			_ = r.Delay()
		})
		// The slice-of-slices literal above escapes to the heap only if
		// Process let it; AllocsPerRun counts it if so.
		if allocs != 0 {
			t.Errorf("%v: %v allocations per block, want 0", k, allocs)
		}
	}
}

func TestOutputForExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	r, err := NewRates(2, 44100, 48000, Default)
	if err != nil {
		t.Fatal(err)
	}
	in := [][]float32{make([]float32, 5000), make([]float32, 5000)}
	out := [][]float32{make([]float32, 6000), make([]float32, 6000)}
	for i := 0; i < 300; i++ {
		if i > 100 {
			r.SetRatio(48000.0 / 44100 * (1 + (rng.Float64()*2-1)*0.05))
		}
		n := rng.IntN(5000)
		want := r.OutputFor(n)
		if want > r.MaxOutput(n) {
			t.Fatalf("OutputFor(%d) = %d > MaxOutput %d", n, want, r.MaxOutput(n))
		}
		cons, prod := r.Process([][]float32{in[0][:n], in[1][:n]}, out)
		if cons != n || prod != want {
			t.Fatalf("step %d: Process(%d) = %d, %d; OutputFor said %d", i, n, cons, prod, want)
		}
	}
}

func TestSetRatioRange(t *testing.T) {
	r, _ := New(1, Default)
	for _, tc := range []struct {
		ratio float64
		ok    bool
	}{
		{1, true}, {0.95, true}, {1.05, true}, {0.9, true}, {1.1, true},
		{0.89, false}, {1.11, false}, {0, false}, {-1, false}, {math.NaN(), false}, {math.Inf(1), false},
	} {
		if err := r.SetRatio(tc.ratio); (err == nil) != tc.ok {
			t.Errorf("SetRatio(%g) error = %v, want ok=%v", tc.ratio, err, tc.ok)
		}
	}
}

func TestParseQuality(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Quality
		ok   bool
	}{
		{"fast", Fast, true}, {"Default", Default, true}, {"high", Default, true},
		{"BEST", Best, true}, {"", Default, true}, {"ultra", 0, false},
	} {
		q, err := ParseQuality(tc.in)
		if (err == nil) != tc.ok || (tc.ok && q != tc.want) {
			t.Errorf("ParseQuality(%q) = %v, %v", tc.in, q, err)
		}
		if tc.ok && tc.in != "" {
			if back, _ := ParseQuality(q.String()); back != q {
				t.Errorf("%v does not round-trip", q)
			}
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(0, Default); err == nil {
		t.Error("New(0 channels) succeeded")
	}
	if _, err := New(1, Quality(9)); err == nil {
		t.Error("New(bad quality) succeeded")
	}
	if _, err := NewRates(1, 0, 48000, Default); err == nil {
		t.Error("NewRates(0 Hz) succeeded")
	}
	if _, err := NewRates(1, 8000, 192000, Default); err == nil {
		t.Error("NewRates(ratio 24) succeeded")
	}
}

// TestTables: every preset keeps its table within 0.5 MiB and at least
// 1024 phases for the conversions sgbridge uses.
func TestTables(t *testing.T) {
	for _, q := range []Quality{Fast, Default, Best} {
		for _, ratio := range []float64{1, 48000.0 / 44100, 44100.0 / 48000, 2, 0.5} {
			f := design(presets[q], ratio)
			bytes := len(f.coef) * 4
			t.Logf("%v ratio %.4f: %d taps x %d phases, %d KiB, cutoff %.4f", q, ratio, f.taps, f.phases, bytes>>10, f.cutoff)
			if bytes > tableBudget {
				t.Errorf("%v ratio %g: table %d bytes > %d", q, ratio, bytes, tableBudget)
			}
			// Below ratio one the filter is stretched, so the phase grid
			// counts per output sample: phases/ratio.
			if perOut := float64(f.phases) / min(1, ratio); perOut < 1024 {
				t.Errorf("%v ratio %g: %d phases (%.0f per output sample) < 1024", q, ratio, f.phases, perOut)
			}
			if f.taps%8 != 0 {
				t.Errorf("%v ratio %g: %d taps not a multiple of 8", q, ratio, f.taps)
			}
		}
	}
}
