package analysis

import (
	"fmt"
	"math"
	"slices"
)

// Window is the sine fit of one stretch of a recording.
type Window struct {
	Start int     // index of the window's first sample in the recording
	Fit   Sine    // Phase is at Start; Fit.Amp == 0 if no sine was found
	THDN  float64 // dB; +Inf if no sine was found
}

// Windows fits each non-overlapping window of size samples (4800 is 100 ms
// at 48 kHz); a shorter tail is left out. Each window's fit seeds the next,
// so a rough freqGuess costs a spectrum search only once. A window in
// which no sine is found (a dropout) is kept with a zero Fit and +Inf
// THD+N rather than failing the whole recording.
func Windows(x []float64, rate, freqGuess float64, size int) ([]Window, error) {
	if size < 8 {
		return nil, fmt.Errorf("analysis: window of %d samples is too short (want at least 8)", size)
	}
	if len(x) < size {
		return nil, fmt.Errorf("analysis: %d samples do not fill one window of %d", len(x), size)
	}
	ws := make([]Window, 0, len(x)/size)
	guess := freqGuess
	found := 0
	var firstErr error
	for start := 0; start+size <= len(x); start += size {
		fit, err := FitSine(x[start:start+size], rate, guess)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			ws = append(ws, Window{Start: start, Fit: Sine{Residual: math.Sqrt(power(x[start : start+size]))}, THDN: math.Inf(1)})
			continue
		}
		found++
		guess = fit.Freq
		ws = append(ws, Window{Start: start, Fit: fit, THDN: dB(fit.Residual / (fit.Amp / math.Sqrt2))})
	}
	if found == 0 {
		return nil, fmt.Errorf("analysis: no window holds a sine: %w", firstErr)
	}
	return ws, nil
}

// Spread returns the mean and standard deviation (n-1) of the fitted
// frequency over the windows in which a sine was found: wow, drift and a
// wandering resampling ratio show here.
func Spread(ws []Window) (meanHz, stdHz float64) {
	var n int
	for _, w := range ws {
		if w.Fit.Amp > 0 {
			n++
			meanHz += w.Fit.Freq
		}
	}
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	meanHz /= float64(n)
	if n == 1 {
		return meanHz, 0
	}
	var s2 float64
	for _, w := range ws {
		if w.Fit.Amp > 0 {
			d := w.Fit.Freq - meanHz
			s2 += d * d
		}
	}
	return meanHz, math.Sqrt(s2 / float64(n-1))
}

// Summary condenses per-window fits into the figures tests assert on.
type Summary struct {
	Windows    int     // windows summarised
	Missing    int     // windows in which no sine was found
	MedianTHDN float64 // dB
	BestTHDN   float64 // dB
	WorstTHDN  float64 // dB; +Inf if a window had no sine
	WorstStart int     // Start of the worst window
	MeanHz     float64
	StdHz      float64
	MinAmp     float64
	MaxAmp     float64
}

// Summarize returns the Summary of ws.
func Summarize(ws []Window) Summary {
	s := Summary{Windows: len(ws), BestTHDN: math.Inf(1), WorstTHDN: math.Inf(-1), MinAmp: math.Inf(1)}
	if len(ws) == 0 {
		s.MedianTHDN, s.BestTHDN, s.WorstTHDN = math.NaN(), math.NaN(), math.NaN()
		s.MeanHz, s.StdHz, s.MinAmp = math.NaN(), math.NaN(), math.NaN()
		return s
	}
	th := make([]float64, len(ws))
	for i, w := range ws {
		th[i] = w.THDN
		if w.Fit.Amp == 0 {
			s.Missing++
		}
		if w.THDN > s.WorstTHDN {
			s.WorstTHDN, s.WorstStart = w.THDN, w.Start
		}
		s.BestTHDN = min(s.BestTHDN, w.THDN)
		s.MinAmp = min(s.MinAmp, w.Fit.Amp)
		s.MaxAmp = max(s.MaxAmp, w.Fit.Amp)
	}
	s.MedianTHDN = median(th)
	s.MeanHz, s.StdHz = Spread(ws)
	return s
}

// String formats s for test logs.
func (s Summary) String() string {
	return fmt.Sprintf("%d windows (%d without sine): THD+N median %.1f dB, best %.1f dB, worst %.1f dB at sample %d; freq %.6f Hz +- %.3g Hz; amp %.6g..%.6g",
		s.Windows, s.Missing, s.MedianTHDN, s.BestTHDN, s.WorstTHDN, s.WorstStart, s.MeanHz, s.StdHz, s.MinAmp, s.MaxAmp)
}

// median returns the median of v without changing it; NaN if v is empty.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
