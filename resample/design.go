package resample

import "math"

// tableBudget is the largest coefficient table, in bytes, a preset may use.
const tableBudget = 512 << 10

// filter is a tabulated polyphase prototype: rows 0..phases, taps each.
type filter struct {
	taps   int
	phases int
	coef   []float32 // (phases+1)*taps, row p is phase p/phases
	cutoff float64   // -6 dB point in cycles per input sample
}

// design builds the table for a preset at the given setup ratio
// (output rate / input rate). See the package comment for the math.
func design(p preset, ratio float64) filter {
	rho := math.Min(1, ratio)
	taps := p.taps
	// Transition width in units of the lower sample rate, from Kaiser's
	// length formula N - 1 = (A - 7.95) / (14.36 Δf).
	fc := 0.5 // ratio >= 1: transition centred on the input Nyquist
	if rho < 1 {
		taps = roundUp8(int(math.Ceil(1.5 * float64(p.taps) / rho)))
		df := (p.atten - 7.95) / (14.36 * (float64(taps)*rho - 1))
		fc = 0.52 - df/2
	}
	cutoff := fc * rho
	phases := p.phases
	if max := tableBudget/(4*taps) - 1; phases > max {
		phases = max
	}
	beta := kaiserBeta(p.atten)
	i0b := besselI0(beta)
	half := float64(taps / 2)
	h := make([]float64, (phases+1)*taps)
	sum := 0.0
	for ph := 0; ph <= phases; ph++ {
		phi := float64(ph) / float64(phases)
		for j := 0; j < taps; j++ {
			u := phi + half - 1 - float64(j)
			v := 0.0
			if r := u / half; r > -1 && r < 1 {
				v = 2 * cutoff * sinc(2*cutoff*u) * besselI0(beta*math.Sqrt(1-r*r)) / i0b
			} else if r == 1 || r == -1 {
				v = 2 * cutoff * sinc(2*cutoff*u) / i0b
			}
			h[ph*taps+j] = v
			if ph < phases {
				sum += v
			}
		}
	}
	// Average DC gain over the phases 0..P-1 (row P repeats row 0 shifted).
	scale := float64(phases) / sum
	coef := make([]float32, len(h))
	for i, v := range h {
		coef[i] = float32(v * scale)
	}
	return filter{taps: taps, phases: phases, coef: coef, cutoff: cutoff}
}

func roundUp8(n int) int { return (n + 7) &^ 7 }

func kaiserBeta(a float64) float64 {
	switch {
	case a > 50:
		return 0.1102 * (a - 8.7)
	case a >= 21:
		return 0.5842*math.Pow(a-21, 0.4) + 0.07886*(a-21)
	}
	return 0
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the modified Bessel function of the first kind, order zero,
// by its power series Σ ((x/2)^k / k!)², which converges for every x we use
// (β < 20) to full float64 precision in well under 100 terms.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 500; k++ {
		term *= q / float64(k*k)
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}
