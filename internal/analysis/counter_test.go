package analysis

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// counter makes channel c of the counter signal from frame n0.
func counter[T float32 | float64](n0 uint32, c, n int) []T {
	x := make([]T, n)
	for i := range x {
		x[i] = T(float64((int(n0)+i+CounterChannelOffset*c)%CounterModulus) / CounterModulus)
	}
	return x
}

func TestCounterGood(t *testing.T) {
	for _, tc := range []struct {
		n0 uint32
		c  int
		n  int
	}{
		{0, 0, 48000},
		{12345, 1, 48000},
		{CounterModulus - 100, 0, 1000}, // wraps
		{CounterModulus - 5000, 3, 20000},
		{7, 2047, 1},
	} {
		if got, err := Counter(counter[float32](tc.n0, tc.c, tc.n), tc.c); err != nil || got != tc.n0 {
			t.Errorf("float32 n0=%d c=%d: start %d, %v", tc.n0, tc.c, got, err)
		}
		if got, err := Counter(counter[float64](tc.n0, tc.c, tc.n), tc.c); err != nil || got != tc.n0 {
			t.Errorf("float64 n0=%d c=%d: start %d, %v", tc.n0, tc.c, got, err)
		}
	}
}

func TestCounterBad(t *testing.T) {
	const n = 48000
	x := counter[float32](1000, 1, n)
	tests := []struct {
		name  string
		x     []float32
		index int
		bad   int
		jumps int
		want  string
	}{
		{"repeated frame", slices.Insert(slices.Clone(x), 100, x[99])[:n], 100, n - 100, 1, "1 frame(s) repeated"},
		{"dropped frame", slices.Delete(slices.Clone(x), 200, 201), 200, n - 201, 1, "1 frame(s) skipped"},
		{"dropped 256 frames", append(slices.Clone(x[:300]), x[556:]...), 300, n - 556, 1, "256 frame(s) skipped"},
		{"one sample off by an ulp", func() []float32 {
			y := slices.Clone(x)
			y[4000] = math.Nextafter32(y[4000], 2)
			return y
		}(), 4000, 1, 2, "not a counter value"},
		{"one sample zeroed", func() []float32 { y := slices.Clone(x); y[n-1] = 0; return y }(), n - 1, 1, 1, "count 0"},
		{"resampled (scaled)", func() []float32 {
			y := slices.Clone(x)
			for i := range y[10:] {
				y[10+i] *= 1.0000001
			}
			return y
		}(), 10, n - 10, n - 10, "not a counter value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, err := Counter(tt.x, 1)
			if start != 1000 {
				t.Errorf("start %d, want 1000", start)
			}
			var ce *CounterError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *CounterError", err)
			}
			t.Log(err)
			if ce.Index != tt.index || ce.Bad != tt.bad || ce.Total != n-boolInt(tt.name == "dropped frame")-256*boolInt(tt.name == "dropped 256 frames") {
				t.Errorf("index %d, bad %d, total %d; want index %d, bad %d", ce.Index, ce.Bad, ce.Total, tt.index, tt.bad)
			}
			if ce.Jumps != tt.jumps {
				t.Errorf("jumps %d, want %d", ce.Jumps, tt.jumps)
			}
			msg := err.Error()
			for _, w := range []string{tt.want, "first at index", "want ", "got "} {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestCounterNotCounter(t *testing.T) {
	for _, x := range [][]float64{nil, {0.3}, {-0.5}, {1}, {math.NaN()}} {
		if _, err := Counter(x, 0); err == nil {
			t.Errorf("Counter(%v) succeeded", x)
		}
	}
	if _, err := Counter([]float64{0}, -1); err == nil {
		t.Error("negative channel accepted")
	}
}

func TestSkipZeros(t *testing.T) {
	x := append(make([]float32, 10), counter[float32](5, 0, 100)...)
	i := SkipZeros(x)
	if i != 10 {
		t.Fatalf("SkipZeros = %d, want 10", i)
	}
	if start, err := Counter(x[i:], 0); err != nil || start != 5 {
		t.Fatalf("Counter after SkipZeros: %d, %v", start, err)
	}
	if SkipZeros(make([]float64, 3)) != 3 {
		t.Fatal("all zeros")
	}
}
