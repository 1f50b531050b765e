package analysis

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Sine is a fitted sine: x[n] = Amp*sin(2*pi*Freq*n/rate + Phase) + DC,
// with n counted from the first sample of the fitted slice.
type Sine struct {
	Freq     float64 // Hz
	Amp      float64 // peak amplitude
	Phase    float64 // radians at n = 0, in [-pi, pi]
	DC       float64
	Residual float64 // RMS of x minus the fitted sine
}

// At returns the fitted sine's value at sample n.
func (s Sine) At(n int, rate float64) float64 {
	return s.Amp*math.Sin(2*math.Pi*s.Freq*float64(n)/rate+s.Phase) + s.DC
}

// Sine64 returns n samples of amp*sin(2*pi*freq*i/rate + phase).
func Sine64(n int, rate, freq, amp, phase float64) []float64 {
	x := make([]float64, n)
	w := 2 * math.Pi * freq / rate
	for i := range x {
		x[i] = amp * math.Sin(w*float64(i)+phase)
	}
	return x
}

const (
	// initLen is the longest stretch the first fit uses. A frequency
	// error df leaves the four-parameter fit's basin once df*T passes
	// about 1/pi, so a long recording is fitted on its middle first and
	// the stretch widened by growFactor, each fit seeding the next.
	initLen    = 16384
	growFactor = 8
	// blockLen is how many samples the sine is advanced by rotation
	// before it is recomputed exactly; the rotation's rounding error
	// grows linearly and stays below 1e-13 over a block.
	blockLen = 256
	maxIter  = 50
)

// fitter holds the model a*cos(w*(n-mid)) + b*sin(w*(n-mid)) + c, with w in
// radians per sample. Time is centred on the middle of x so the frequency
// column of the normal equations is orthogonal to the others and the
// system stays well conditioned for any length.
type fitter struct {
	x       []float64
	mid     float64
	a, b, c float64
	w       float64
}

// sums are the normal equations J'J d = J'r of one pass, for the columns
// cos, sin, 1 and g = tau*(-a*sin + b*cos), tau = (n-mid)/h in [-1, 1].
type sums struct {
	m   [4][4]float64
	v   [4]float64
	ssr float64 // sum of squared residuals at the current parameters
}

// pass evaluates the model over x[lo:hi] at the fitter's parameters.
func (f *fitter) pass(lo, hi int, h float64) sums {
	var (
		cc, cs, c1, cg, ss, s1, sg, n1, g1, gg float64
		rc, rs, r1, rg, rr                     float64
	)
	a, b, c, w := f.a, f.b, f.c, f.w
	sd, cd := math.Sincos(w)
	invH := 1 / h
	for blk := lo; blk < hi; blk += blockLen {
		end := min(blk+blockLen, hi)
		sn, cn := math.Sincos(w * (float64(blk) - f.mid))
		tau := (float64(blk) - f.mid) * invH
		for _, xv := range f.x[blk:end] {
			r := xv - (a*cn + b*sn + c)
			g := tau * (b*cn - a*sn)
			cc += cn * cn
			cs += cn * sn
			c1 += cn
			cg += cn * g
			ss += sn * sn
			s1 += sn
			sg += sn * g
			n1++
			g1 += g
			gg += g * g
			rc += r * cn
			rs += r * sn
			r1 += r
			rg += r * g
			rr += r * r
			cn, sn = cn*cd-sn*sd, sn*cd+cn*sd
			tau += invH
		}
	}
	return sums{
		m: [4][4]float64{
			{cc, cs, c1, cg},
			{cs, ss, s1, sg},
			{c1, s1, n1, g1},
			{cg, sg, g1, gg},
		},
		v:   [4]float64{rc, rs, r1, rg},
		ssr: rr,
	}
}

// solve solves the leading k x k block of s's normal equations by Gaussian
// elimination with partial pivoting.
func solve(s sums, k int) ([4]float64, bool) {
	var m [4][5]float64
	for i := range k {
		copy(m[i][:k], s.m[i][:k])
		m[i][k] = s.v[i]
	}
	for col := range k {
		p := col
		for r := col + 1; r < k; r++ {
			if math.Abs(m[r][col]) > math.Abs(m[p][col]) {
				p = r
			}
		}
		m[col], m[p] = m[p], m[col]
		// A pivot this small against the diagonal's scale means a column
		// is (nearly) a combination of the others: no unique fit.
		if !(math.Abs(m[col][col]) > 1e-13*math.Abs(s.m[col][col])) || m[col][col] == 0 {
			return [4]float64{}, false
		}
		for r := col + 1; r < k; r++ {
			f := m[r][col] / m[col][col]
			for j := col; j <= k; j++ {
				m[r][j] -= f * m[col][j]
			}
		}
	}
	var d [4]float64
	for i := k - 1; i >= 0; i-- {
		v := m[i][k]
		for j := i + 1; j < k; j++ {
			v -= m[i][j] * d[j]
		}
		d[i] = v / m[i][i]
	}
	return d, true
}

var errNoSine = errors.New("no sine found")

// linear fits a, b and c at the current frequency (the three-parameter fit).
func (f *fitter) linear(lo, hi int) error {
	f.a, f.b, f.c = 0, 0, 0
	s := f.pass(lo, hi, 1)
	d, ok := solve(s, 3)
	if !ok {
		return errNoSine
	}
	f.a, f.b, f.c = d[0], d[1], d[2]
	if f.a == 0 && f.b == 0 {
		return errNoSine
	}
	return nil
}

// gaussNewton runs the four-parameter fit over x[lo:hi] from the current
// parameters, halving steps that would raise the residual. It returns the
// sum of squared residuals at the final parameters.
func (f *fitter) gaussNewton(lo, hi int) (float64, error) {
	h := max(float64(hi-lo)/2, 1)
	s := f.pass(lo, hi, h)
	for range maxIter {
		d, ok := solve(s, 4)
		if !ok {
			return s.ssr, errNoSine
		}
		old := *f
		var t sums
		for lambda := 1.0; ; lambda /= 2 {
			*f = old
			f.a += lambda * d[0]
			f.b += lambda * d[1]
			f.c += lambda * d[2]
			f.w += lambda * d[3] / h
			if f.w <= 0 || f.w >= math.Pi {
				if lambda < 1e-6 {
					*f = old
					return s.ssr, fmt.Errorf("frequency left (0, rate/2)")
				}
				continue
			}
			t = f.pass(lo, hi, h)
			// Accept a step that does not raise the residual beyond
			// its own rounding noise: the model is evaluated to about
			// 1e-14, so with float32-quantised data (residual ~1e-8)
			// the sum of squares is only good to ~1e-6 relative.
			// Give up shrinking once the step is negligible.
			if t.ssr <= s.ssr*(1+1e-6) || lambda < 1e-6 {
				break
			}
		}
		gain := s.ssr - t.ssr
		s = t
		// Converged when the step's phase change at the stretch's ends,
		// d[3], is negligible, or when a step no longer lowers the
		// residual beyond rounding (noisy data: the steps then dither
		// around the minimum).
		if math.Abs(d[3]) < 1e-11 || gain <= 1e-10*s.ssr {
			break
		}
	}
	return s.ssr, nil
}

// FitSine fits a sine to x by the IEEE 1057 four-parameter least-squares
// method. freqGuess (Hz) seeds a three-parameter fit; if that does not
// explain the signal, or freqGuess <= 0, the seed is the interpolated
// peak of a Hann-windowed spectrum (within 10% of freqGuess when one is
// given). Gauss-Newton iterations on frequency then converge on the middle
// 16384 samples, and the stretch is widened eightfold at a time to all of
// x, so a guess within the first stretch's basin (about rate/(pi*16384),
// 1 Hz at 48 kHz) is refined to the whole recording's precision.
func FitSine(x []float64, rate, freqGuess float64) (Sine, error) {
	if rate <= 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return Sine{}, fmt.Errorf("analysis: sample rate %v", rate)
	}
	if len(x) < 8 {
		return Sine{}, fmt.Errorf("analysis: %d samples are too few for a sine fit (want at least 8)", len(x))
	}
	if freqGuess >= rate/2 || math.IsNaN(freqGuess) {
		return Sine{}, fmt.Errorf("analysis: frequency guess %v Hz is not below Nyquist (%v Hz)", freqGuess, rate/2)
	}
	n := len(x)
	l0 := min(n, initLen)
	lo, hi := (n-l0)/2, (n-l0)/2+l0

	var best *fitter
	bestSSR := math.Inf(1)
	try := func(freq float64) {
		f := &fitter{x: x, mid: float64(n-1) / 2, w: 2 * math.Pi * freq / rate}
		if f.linear(lo, hi) != nil {
			return
		}
		ssr, err := f.gaussNewton(lo, hi)
		if err == nil && ssr < bestSSR {
			best, bestSSR = f, ssr
		}
	}
	if freqGuess > 0 {
		try(freqGuess)
	}
	// A fit that leaves more than 1% of the signal's power (-20 dB) is not
	// trusted to be the right sine: look at the spectrum too.
	if best == nil || bestSSR > 0.01*power(x[lo:hi]) {
		if pk, err := peakFreq(x[lo:hi], rate, freqGuess); err == nil {
			try(pk)
		}
	}
	if best == nil {
		return Sine{}, fmt.Errorf("analysis: %w near %v Hz in %d samples", errNoSine, freqGuess, n)
	}
	f := best
	ssr := bestSSR
	for l := l0; l < n; {
		l = min(n, l*growFactor)
		lo, hi = (n-l)/2, (n-l)/2+l
		var err error
		if ssr, err = f.gaussNewton(lo, hi); err != nil {
			return Sine{}, fmt.Errorf("analysis: sine fit over %d samples: %w", l, err)
		}
	}
	amp := math.Hypot(f.a, f.b)
	if amp == 0 {
		return Sine{}, fmt.Errorf("analysis: %w (amplitude 0)", errNoSine)
	}
	return Sine{
		Freq:     f.w * rate / (2 * math.Pi),
		Amp:      amp,
		Phase:    math.Remainder(math.Atan2(f.a, f.b)-f.w*f.mid, 2*math.Pi),
		DC:       f.c,
		Residual: math.Sqrt(ssr / float64(n)),
	}, nil
}

// power returns the mean square of x about its mean.
func power(x []float64) float64 {
	var s, s2 float64
	for _, v := range x {
		s += v
	}
	m := s / float64(len(x))
	for _, v := range x {
		s2 += (v - m) * (v - m)
	}
	return s2 / float64(len(x))
}

// peakFreq returns the frequency of the largest peak of x's Hann-windowed,
// twice zero-padded spectrum, within 10% of guess if guess > 0, refined by
// a parabola through the log magnitudes of the three top bins.
func peakFreq(x []float64, rate, guess float64) (float64, error) {
	n := len(x)
	nfft := 1
	for nfft < 2*n {
		nfft <<= 1
	}
	m := 0.0
	for _, v := range x {
		m += v
	}
	m /= float64(n)
	seq := make([]float64, nfft)
	for i, v := range x {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*(float64(i)+0.5)/float64(n))
		seq[i] = (v - m) * w
	}
	spec := fourier.NewFFT(nfft).Coefficients(nil, seq)
	binHz := rate / float64(nfft)
	// Skip the bins the Hann window's DC leakage reaches.
	kLo, kHi := 2*nfft/n+1, nfft/2-2
	if guess > 0 {
		kLo = max(kLo, int((0.9*guess)/binHz)-3)
		kHi = min(kHi, int((1.1*guess)/binHz)+4)
	}
	if kLo >= kHi {
		return 0, errNoSine
	}
	k := kLo
	for i := kLo; i <= kHi; i++ {
		if mag2(spec[i]) > mag2(spec[k]) {
			k = i
		}
	}
	l, c, r := math.Log(mag2(spec[k-1])), math.Log(mag2(spec[k])), math.Log(mag2(spec[k+1]))
	den := l - 2*c + r
	d := 0.0
	if den < 0 && !math.IsInf(den, 0) {
		d = 0.5 * (l - r) / den
	}
	if math.IsNaN(d) || math.Abs(d) > 1 {
		d = 0
	}
	if mag2(spec[k]) == 0 {
		return 0, errNoSine
	}
	return (float64(k) + d) * binHz, nil
}

func mag2(c complex128) float64 { return real(c)*real(c) + imag(c)*imag(c) }

// THDN returns THD+N in dB: the RMS of everything that is not the fitted
// sine (noise, harmonics, glitches; not DC, which the fit removes),
// relative to the sine's RMS Amp/sqrt(2).
func THDN(x []float64, rate, freqGuess float64) (db float64, fit Sine, err error) {
	fit, err = FitSine(x, rate, freqGuess)
	if err != nil {
		return 0, fit, err
	}
	return dB(fit.Residual / (fit.Amp / math.Sqrt2)), fit, nil
}

// dB returns 20*log10(r), -Inf for 0.
func dB(r float64) float64 { return 20 * math.Log10(r) }
