package analysis

import (
	"math"
	"testing"
)

// wowSine is a sine whose frequency swings f*(1 + dev*sin(2*pi*fm*t)).
func wowSine(n int, f, dev, fm float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		t := float64(i) / rate
		x[i] = 0.5 * math.Sin(2*math.Pi*f*t+f*dev/fm*(1-math.Cos(2*math.Pi*fm*t)))
	}
	return x
}

// TestSpreadWow: +-10 ppm of 1 Hz wow must show in the window-to-window
// spread of 100 ms fits, far above the spread of a clean tone.
func TestSpreadWow(t *testing.T) {
	const f, dev, fm = 1000.0, 10e-6, 1.0
	n := 5 * int(rate)
	clean, err := Windows(float32ed(Sine64(n, rate, f, 0.5, 0)), rate, f, 4800)
	if err != nil {
		t.Fatal(err)
	}
	wow, err := Windows(float32ed(wowSine(n, f, dev, fm)), rate, f, 4800)
	if err != nil {
		t.Fatal(err)
	}
	_, cleanStd := Spread(clean)
	mean, wowStd := Spread(wow)
	// A window of T averages the swing by sin(pi*fm*T)/(pi*fm*T); the
	// swing's RMS is the peak over sqrt 2; 50 windows sample 5 full
	// periods evenly, so the n-1 std is sqrt(50/49) of the RMS.
	want := f * dev / math.Sqrt2 * math.Sin(math.Pi*0.1) / (math.Pi * 0.1) * math.Sqrt(50.0/49)
	t.Logf("100 ms windows: clean spread %.3g Hz (%.3g ppm); wow spread %.4g Hz (%.3f ppm), expected %.4g Hz; mean %.6f Hz",
		cleanStd, cleanStd/f*1e6, wowStd, wowStd/f*1e6, want, mean)
	if math.Abs(wowStd/want-1) > 0.02 {
		t.Errorf("wow spread %.4g Hz, want %.4g +- 2%%", wowStd, want)
	}
	if cleanStd > wowStd/1000 {
		t.Errorf("clean spread %.3g Hz is not far below the wow's %.3g Hz", cleanStd, wowStd)
	}
	if math.Abs(mean-f) > 1e-4 {
		t.Errorf("mean %.6f Hz, want %v", mean, f)
	}
}

func TestWindows(t *testing.T) {
	x := addNoise(float32ed(Sine64(48000+1000, rate, 997, 0.5, 0)), 0.5, -120, 9)
	clear(x[24000:28800]) // one window of silence
	ws, err := Windows(x, rate, 1000, 4800)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 10 {
		t.Fatalf("%d windows, want 10 (the 1000-sample tail left out)", len(ws))
	}
	for i, w := range ws {
		if w.Start != 4800*i {
			t.Errorf("window %d starts at %d", i, w.Start)
		}
		if i == 5 {
			if w.Fit.Amp != 0 || !math.IsInf(w.THDN, 1) {
				t.Errorf("silent window: %+v", w)
			}
			continue
		}
		if math.Abs(w.THDN+120) > 1 || math.Abs(w.Fit.Freq-997) > 1e-3 {
			t.Errorf("window %d: %+v", i, w)
		}
		// Phase is at the window's start.
		if d := math.Abs(w.Fit.At(0, rate) - x[w.Start]); d > 1e-5 {
			t.Errorf("window %d: At(0) off by %g", i, d)
		}
	}
	s := Summarize(ws)
	t.Log(s)
	if s.Windows != 10 || s.Missing != 1 || !math.IsInf(s.WorstTHDN, 1) || s.WorstStart != 24000 ||
		math.Abs(s.MedianTHDN+120) > 1 || s.MinAmp != 0 || math.Abs(s.MaxAmp-0.5) > 1e-5 {
		t.Errorf("summary %+v", s)
	}
	if _, err := Windows(x, rate, 1000, 4); err == nil {
		t.Error("4-sample windows accepted")
	}
	if _, err := Windows(x[:100], rate, 1000, 4800); err == nil {
		t.Error("window longer than the signal accepted")
	}
	if _, err := Windows(make([]float64, 9600), rate, 1000, 4800); err == nil {
		t.Error("silence accepted")
	}
}

func BenchmarkWindows30s(b *testing.B) {
	x := float32ed(Sine64(30*48000, rate, 997, 0.5, 0))
	for b.Loop() {
		if _, err := Windows(x, rate, 1000, 4800); err != nil {
			b.Fatal(err)
		}
	}
}
