package analysis

import (
	"math"
	"slices"
	"testing"
)

// TestGlitches plants one fault of each kind in 1 s of a -6 dBFS 997 Hz
// tone (float32, with -100 dB noise) and checks it is found, once, where it
// was put, and that the clean signal raises nothing.
func TestGlitches(t *testing.T) {
	const n = 48000
	base := func(f float64) []float64 {
		return addNoise(float32ed(Sine64(n+100, rate, f, 0.5, 0.2)), 0.5, -100, 3)
	}
	drop := func(k int) func([]float64) []float64 {
		return func(x []float64) []float64 { return slices.Delete(x, k, k+1)[:n] }
	}
	repeat := func(k int) func([]float64) []float64 {
		return func(x []float64) []float64 { return slices.Insert(x, k, x[k-1])[:n] }
	}
	// The tone's peaks sit where 2*pi*f*k/rate + 0.2 = pi/2 (mod 2pi); a
	// dropped sample there changes the least.
	peak := int(math.Round((math.Pi/2-0.2)/(2*math.Pi*997/rate))) + 20*int(math.Round(rate/997))
	tests := []struct {
		name  string
		freq  float64
		fault func([]float64) []float64
		at    int // -1: no glitch expected
		lenLo int // minimum length of the glitch
	}{
		{"clean", 997, func(x []float64) []float64 { return x[:n] }, -1, 0},
		{"clean 20 Hz", 20, func(x []float64) []float64 { return x[:n] }, -1, 0},
		{"clean 19 kHz", 19000, func(x []float64) []float64 { return x[:n] }, -1, 0},
		{"dropped sample", 997, drop(12345), 12345, 1},
		{"dropped sample at a peak", 997, drop(peak), peak, 1},
		{"dropped sample at the very start", 997, drop(1), 1, 1},
		{"dropped sample near the end", 997, drop(n - 3), n - 3, 1},
		{"dropped sample at a window edge", 997, drop(4800), 4800, 1},
		{"repeated sample", 997, repeat(30000), 30000, 1},
		{"repeated sample 19 kHz", 19000, repeat(30001), 30001, 1},
		{"click -40 dB", 997, func(x []float64) []float64 { x[7777] += 0.005; return x[:n] }, 7777, 1},
		{"step -50 dB", 997, func(x []float64) []float64 {
			for i := 20000; i < len(x); i++ {
				x[i] += 0.0016
			}
			return x[:n]
		}, 20000, 1},
		{"dropout 20 samples", 997, func(x []float64) []float64 { clear(x[40000:40020]); return x[:n] }, 40000, 20},
		{"dropout 300 ms", 997, func(x []float64) []float64 { clear(x[10000:24400]); return x[:n] }, 10000, 14400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := tt.fault(base(tt.freq))
			gs, err := Glitches(x, rate, tt.freq, 4800, -70)
			if err != nil {
				t.Fatal(err)
			}
			if tt.at < 0 {
				if len(gs) != 0 {
					t.Fatalf("clean signal: %d glitches, first %+v", len(gs), gs[0])
				}
				return
			}
			if len(gs) != 1 {
				t.Fatalf("want 1 glitch at %d, got %d: %+v", tt.at, len(gs), gs)
			}
			g := gs[0]
			t.Logf("found %+v", g)
			if g.Index < tt.at-1 || g.Index > tt.at+2 {
				t.Errorf("glitch at %d, want %d", g.Index, tt.at)
			}
			if g.Len < tt.lenLo || g.Len > tt.lenLo+3*glitchMerge+4800 {
				t.Errorf("glitch length %d, want at least %d", g.Len, tt.lenLo)
			}
			if !(g.Level > -70) {
				t.Errorf("level %.1f dB not above the threshold", g.Level)
			}
		})
	}
}

// TestGlitchLevels checks the reported level of a click against its size.
func TestGlitchLevels(t *testing.T) {
	for _, db := range []float64{-20, -40, -60} {
		x := Sine64(48000, rate, 1000, 0.5, 0)
		x[24000] += 0.5 * math.Pow(10, db/20)
		gs, err := Glitches(x, rate, 1000, 4800, -100)
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) != 1 || gs[0].Index != 24000 || gs[0].Len != 3 {
			t.Fatalf("click at %.0f dB: %+v, want one glitch at 24000 of 3 samples", db, gs)
		}
		// The predictor's middle tap is 2cos(w) times the click.
		want := db + dB(2*math.Cos(2*math.Pi*1000/rate))
		if math.Abs(gs[0].Level-want) > 0.05 {
			t.Errorf("click at %.0f dB reported at %.2f dB, want %.2f", db, gs[0].Level, want)
		}
	}
}

func TestGlitchesThreshold(t *testing.T) {
	// A -100 dB noise floor raises glitches at a -80 dB threshold: the
	// threshold is honoured, not ignored.
	x := addNoise(Sine64(48000, rate, 997, 0.5, 0), 0.5, -90, 5)
	gs, err := Glitches(x, rate, 997, 0, -90)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) == 0 {
		t.Fatal("noise 0 dB above the threshold raised no glitch")
	}
	if _, err := Glitches(make([]float64, 48000), rate, 997, 0, -60); err == nil {
		t.Fatal("silence: no error")
	}
	if _, err := Glitches(make([]float64, 10), rate, 997, 0, -60); err == nil {
		t.Fatal("10 samples: no error")
	}
}

func BenchmarkGlitches1s(b *testing.B) {
	x := float32ed(Sine64(48000, rate, 997, 0.5, 0))
	for b.Loop() {
		if _, err := Glitches(x, rate, 997, 4800, -80); err != nil {
			b.Fatal(err)
		}
	}
}
