package analysis

import (
	"fmt"
	"math"
)

// Glitch is one disturbance of a sine: a run of samples whose error
// exceeded the threshold, with gaps of up to glitchMerge samples merged.
type Glitch struct {
	Index int     // first flagged sample
	Len   int     // samples from the first to the last flagged one
	Level float64 // peak error in dB relative to the fitted amplitude
}

// glitchMerge joins flagged samples this close into one Glitch: the
// predictor spreads one bad sample over three errors, and a short dropout
// shows at both its edges.
const glitchMerge = 32

// Glitches searches x, a sine near freqGuess, for dropped or repeated
// samples, clicks, steps and dropouts.
//
// It fits windows of window samples (rate/10 if window <= 0) at 50%
// overlap, and takes each window's frequency, DC and amplitude as the
// median over it and its four neighbours, so a glitch cannot bend the
// model it is judged against. The error at sample n is that of the
// two-tap sine predictor at the window's frequency w,
//
//	e[n] = x[n] - 2cos(w)*x[n-1] + x[n-2] - (2-2cos(w))*DC,
//
// which is zero for any sine of that frequency whatever its phase or
// amplitude, and localises a discontinuity to the sample where it
// happens: a click of height d at n gives d, -2cos(w)d, d at n..n+2; a
// step gives d at n; a dropped or repeated sample gives the missing
// sample-to-sample difference. Samples with |e|/Amp above thresholdDB,
// and every sample of a window whose fitted amplitude fell below half
// the recording's median (a dropout longer than the predictor sees), are
// flagged; such a dropout and its edges make one Glitch, whose Len is
// then only as exact as a quarter window. White noise of RMS s raises e's floor to about 2.4*s, so set
// the threshold some 20 dB above the signal's THD+N.
func Glitches(x []float64, rate, freqGuess float64, window int, thresholdDB float64) ([]Glitch, error) {
	if window <= 0 {
		window = int(rate / 10)
	}
	window = min(window, len(x))
	if window < 16 {
		return nil, fmt.Errorf("analysis: glitch search needs windows of at least 16 samples, have %d", window)
	}
	hop := window / 2
	var starts []int
	for s := 0; ; s += hop {
		if s+window >= len(x) {
			starts = append(starts, len(x)-window)
			break
		}
		starts = append(starts, s)
	}
	fits := make([]Sine, len(starts))
	ok := make([]bool, len(starts))
	guess := freqGuess
	var amps []float64
	for i, s := range starts {
		f, err := FitSine(x[s:s+window], rate, guess)
		if err != nil {
			continue
		}
		fits[i], ok[i] = f, true
		guess = f.Freq
		amps = append(amps, f.Amp)
	}
	if len(amps) == 0 {
		return nil, fmt.Errorf("analysis: glitch search found no sine near %v Hz in any window", freqGuess)
	}
	ampRef := median(amps)

	// Robust per-window predictor parameters.
	type pred struct{ c2, dc float64 }
	preds := make([]pred, len(starts))
	lowAmp := make([]bool, len(starts))
	var ws, ds []float64
	for i := range starts {
		ws, ds = ws[:0], ds[:0]
		for j := max(0, i-2); j <= min(len(starts)-1, i+2); j++ {
			if ok[j] {
				ws = append(ws, fits[j].Freq)
				ds = append(ds, fits[j].DC)
			}
		}
		if len(ws) == 0 { // a long dropout: fall back to the whole recording
			ws = append(ws, median(freqs(fits, ok)))
			ds = append(ds, 0)
		}
		c2 := 2 * math.Cos(2*math.Pi*median(ws)/rate)
		preds[i] = pred{c2: c2, dc: (2 - c2) * median(ds)}
		lowAmp[i] = !ok[i] || fits[i].Amp < ampRef/2
	}

	thr := math.Pow(10, thresholdDB/20) * ampRef
	var out []Glitch
	cur := Glitch{Index: -1}
	var peak float64
	long := false // cur includes a low-amplitude window
	flush := func() {
		if cur.Index >= 0 {
			cur.Level = dB(peak / ampRef)
			out = append(out, cur)
		}
		cur, peak, long = Glitch{Index: -1}, 0, false
	}
	flag := func(n int, e float64, low bool) {
		// A long dropout is flagged by window and its edges by the
		// predictor; keep them one glitch.
		gap := glitchMerge
		if low || long {
			gap = window
		}
		if cur.Index >= 0 && n-(cur.Index+cur.Len-1) > gap {
			flush()
		}
		long = long || low
		if cur.Index < 0 {
			cur.Index = n
		}
		cur.Len = n - cur.Index + 1
		peak = max(peak, e)
	}
	centre := func(i int) int { return starts[i] + window/2 }
	i := 0
	for n := range x {
		// Judge n by the window whose centre is nearest.
		for i+1 < len(starts) && centre(i+1)-n < n-centre(i) {
			i++
		}
		p := preds[i]
		var e float64
		switch {
		case n >= 2:
			e = x[n] - p.c2*x[n-1] + x[n-2] - p.dc
		case len(x) > n+2: // the first two samples: predict backwards
			e = x[n] - p.c2*x[n+1] + x[n+2] - p.dc
		}
		e = math.Abs(e)
		if lowAmp[i] {
			// Inside a long dropout the predictor sees a steady signal;
			// judge the missing level instead.
			e = max(e, ampRef-fits[i].Amp)
		}
		if e > thr || math.IsNaN(e) {
			flag(n, e, lowAmp[i])
		}
	}
	flush()
	return out, nil
}

func freqs(fits []Sine, ok []bool) []float64 {
	var f []float64
	for i, s := range fits {
		if ok[i] {
			f = append(f, s.Freq)
		}
	}
	return f
}
