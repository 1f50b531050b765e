package jacktrace

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	// A server at 1 s whose second wake-up is 10 µs late and third on
	// time: 256 frames at 48 kHz are 5,333,333.3 ns.
	in := "1000000000 48000 999000\n5343333\n5323334\n"
	w, err := Read(strings.NewReader(in), 48000, 256)
	if err != nil {
		t.Fatal(err)
	}
	if w.Frames != 48000 || len(w.Late) != 3 {
		t.Fatalf("got %d frames, %d cycles; want 48000, 3", w.Frames, len(w.Late))
	}
	want := []float64{0, 10e-6, 0}
	for i, l := range w.Late {
		if math.Abs(l-want[i]) > 1e-9 {
			t.Errorf("cycle %d late %.3f µs, want %.3f", i, l*1e6, want[i]*1e6)
		}
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "0 lines"},
		{"one line", "1 2 3\n", "1 lines"},
		{"bad first line", "1 2\n5333333\n", "line 1"},
		{"bad delta", "1 2 3\nx\n", "line 2"},
		{"time going back", "1 2 3\n-5\n", "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), 48000, 256)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestLoadTestdata: the six traces the replay tests use read back whole.
func TestLoadTestdata(t *testing.T) {
	paths, err := filepath.Glob("../../bridge/drift/testdata/jackd-young-wakeups-*.txt.gz")
	if err != nil || len(paths) != 6 {
		t.Fatalf("traces: %v %v", paths, err)
	}
	for _, p := range paths {
		w, err := Load(p, 48000, 256)
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Late) != 8625 || w.Frames > 48000 {
			t.Errorf("%s: %d cycles from frame %d; want 8625 from a server under a second old", p, len(w.Late), w.Frames)
		}
	}
}

// FuzzRead: any input gives a trace or an error, never a panic; a trace
// has at least two cycles, none early, the earliest at 0.
func FuzzRead(f *testing.F) {
	f.Add("1000000000 48000 999000\n5343333\n5323334\n")
	f.Add("1 2 3\n-5\n")
	f.Add("1 2 3\n\n")
	f.Add("9223372036854775807 18446744073709551615 1\n9223372036854775807\n9223372036854775807\n")
	f.Fuzz(func(t *testing.T, in string) {
		w, err := Read(strings.NewReader(in), 48000, 256)
		if err != nil {
			return
		}
		if len(w.Late) < 2 {
			t.Fatalf("%d cycles without an error", len(w.Late))
		}
		lo := math.Inf(1)
		for _, l := range w.Late {
			if math.IsNaN(l) || l < 0 {
				t.Fatalf("latency %v", l)
			}
			lo = math.Min(lo, l)
		}
		if lo != 0 {
			t.Fatalf("least latency %v, want 0", lo)
		}
	})
}
