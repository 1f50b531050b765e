package resample

import (
	"math"
	"testing"
)

// This file holds the float64 measurement helpers of the tests: a
// four-parameter sine fit and a fixed-frequency least-squares projection.

// sineFit is the result of fitting y[n] = a·cos(ωn') + b·sin(ωn') + dc,
// n' = n - len/2, by Gauss-Newton on (a, b, dc, ω).
type sineFit struct {
	omega, amp, dc float64
	residualRMS    float64
	resid          []float64
}

// thdn returns the residual relative to the fitted tone, in dB.
func (f sineFit) thdn() float64 {
	return 20 * math.Log10(f.residualRMS/(f.amp/math.Sqrt2))
}

func fitSine(y []float32, omega0 float64) sineFit {
	n := len(y)
	mid := float64(n) / 2
	omega := omega0
	var a, b, dc float64
	// Start with the linear fit at the guessed frequency, then refine ω.
	a, b, dc = linearFit3(y, omega, mid)
	for it := 0; it < 8; it++ {
		var jtj [4][4]float64
		var jtr [4]float64
		for i, v := range y {
			t := float64(i) - mid
			s, c := math.Sincos(omega * t)
			model := a*c + b*s + dc
			r := float64(v) - model
			jac := [4]float64{c, s, 1, t * (b*c - a*s)}
			for p := 0; p < 4; p++ {
				jtr[p] += jac[p] * r
				for q := 0; q < 4; q++ {
					jtj[p][q] += jac[p] * jac[q]
				}
			}
		}
		d := solve4(jtj, jtr)
		a += d[0]
		b += d[1]
		dc += d[2]
		omega += d[3]
		if math.Abs(d[3]) < 1e-16 {
			break
		}
	}
	f := sineFit{omega: omega, amp: math.Hypot(a, b), dc: dc, resid: make([]float64, n)}
	ss := 0.0
	for i, v := range y {
		t := float64(i) - mid
		s, c := math.Sincos(omega * t)
		r := float64(v) - (a*c + b*s + dc)
		f.resid[i] = r
		ss += r * r
	}
	f.residualRMS = math.Sqrt(ss / float64(n))
	return f
}

func linearFit3(y []float32, omega, mid float64) (a, b, dc float64) {
	var m [4][4]float64
	var v [4]float64
	for i, yy := range y {
		t := float64(i) - mid
		s, c := math.Sincos(omega * t)
		j := [4]float64{c, s, 1, 0}
		for p := 0; p < 3; p++ {
			v[p] += j[p] * float64(yy)
			for q := 0; q < 3; q++ {
				m[p][q] += j[p] * j[q]
			}
		}
	}
	m[3][3] = 1
	d := solve4(m, v)
	return d[0], d[1], d[2]
}

// toneAmplitudes fits y to DC plus tones at the given angular frequencies
// (linear least squares) and returns each tone's amplitude.
func toneAmplitudes(y []float32, omegas ...float64) []float64 {
	k := 1 + 2*len(omegas)
	m := make([][]float64, k)
	for i := range m {
		m[i] = make([]float64, k+1)
	}
	row := make([]float64, k)
	for i, v := range y {
		t := float64(i)
		row[0] = 1
		for j, w := range omegas {
			row[1+2*j], row[2+2*j] = math.Sincos(w * t)
		}
		for p := 0; p < k; p++ {
			for q := 0; q < k; q++ {
				m[p][q] += row[p] * row[q]
			}
			m[p][k] += row[p] * float64(v)
		}
	}
	x := gauss(m)
	amps := make([]float64, len(omegas))
	for j := range omegas {
		amps[j] = math.Hypot(x[1+2*j], x[2+2*j])
	}
	return amps
}

func solve4(m [4][4]float64, v [4]float64) [4]float64 {
	a := make([][]float64, 4)
	for i := range a {
		a[i] = append(m[i][:], v[i])
	}
	x := gauss(a)
	return [4]float64{x[0], x[1], x[2], x[3]}
}

// gauss solves the augmented system a (k rows, k+1 columns) with partial
// pivoting.
func gauss(a [][]float64) []float64 {
	k := len(a)
	for c := 0; c < k; c++ {
		p := c
		for r := c + 1; r < k; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		a[c], a[p] = a[p], a[c]
		for r := c + 1; r < k; r++ {
			f := a[r][c] / a[c][c]
			for q := c; q <= k; q++ {
				a[r][q] -= f * a[c][q]
			}
		}
	}
	x := make([]float64, k)
	for r := k - 1; r >= 0; r-- {
		s := a[r][k]
		for q := r + 1; q < k; q++ {
			s -= a[r][q] * x[q]
		}
		x[r] = s / a[r][r]
	}
	return x
}

func TestSineFitRecoversTone(t *testing.T) {
	const n = 8192
	y := make([]float32, n)
	w := 2 * math.Pi * 1234.5 / 48000
	for i := range y {
		y[i] = float32(0.5*math.Sin(w*float64(i)+0.3) + 0.01)
	}
	f := fitSine(y, w*1.0002)
	if math.Abs(f.omega-w) > 1e-12 || math.Abs(f.amp-0.5) > 1e-9 || math.Abs(f.dc-0.01) > 1e-9 {
		t.Fatalf("fit: ω %.15g (want %.15g), amp %g, dc %g", f.omega, w, f.amp, f.dc)
	}
	// float32 quantisation of a -6 dBFS tone is near -150 dB.
	if d := f.thdn(); d > -145 || d < -160 {
		t.Fatalf("THD+N of a float32 sine = %.1f dB, want about -150", d)
	}
	a := toneAmplitudes(y, w, 2*w)
	if math.Abs(a[0]-0.5) > 1e-8 || a[1] > 1e-7 {
		t.Fatalf("toneAmplitudes = %v", a)
	}
}
