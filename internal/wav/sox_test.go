package wav

import (
	"bytes"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func needSox(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("sox")
	if err != nil {
		t.Skip("sox NOT INSTALLED: skipping the test against sox-written files (apt-get install sox)")
	}
	return path
}

// soxSine makes a 0.1 s two-channel 48 kHz test file in the given encoding,
// undithered so every encoding is the same signal rounded.
func soxSine(t *testing.T, sox, path string, enc ...string) {
	t.Helper()
	args := append([]string{"-D", "-n", "-r", "48000", "-c", "2"}, enc...)
	args = append(args, path, "synth", "0.1", "sine", "997", "sine", "1500", "vol", "0.5")
	if out, err := exec.Command(sox, args...).CombinedOutput(); err != nil {
		t.Fatalf("sox %v: %v\n%s", args, err, out)
	}
}

// TestSoxFiles reads files sox wrote in every encoding and checks each
// against sox's float32 rendering of the same signal to within one step of
// the encoding.
func TestSoxFiles(t *testing.T) {
	sox := needSox(t)
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.wav")
	soxSine(t, sox, ref, "-e", "floating-point", "-b", "32")
	_, want, err := ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(want[0]) != 4800 {
		t.Fatalf("reference has %d frames, want 4800", len(want[0]))
	}
	tests := []struct {
		name string
		enc  []string
		form Format
	}{
		{"u8", []string{"-e", "unsigned-integer", "-b", "8"}, Format{48000, 2, 8, false}},
		{"s16", []string{"-e", "signed-integer", "-b", "16"}, Format{48000, 2, 16, false}},
		{"s24", []string{"-e", "signed-integer", "-b", "24"}, Format{48000, 2, 24, false}},
		{"s32", []string{"-e", "signed-integer", "-b", "32"}, Format{48000, 2, 32, false}},
		{"f64", []string{"-e", "floating-point", "-b", "64"}, Format{48000, 2, 64, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".wav")
			soxSine(t, sox, path, tt.enc...)
			f, got, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if f != tt.form {
				t.Fatalf("format %+v, want %+v", f, tt.form)
			}
			// One step of the encoding, and float32's rounding of the reference.
			tol := math.Ldexp(1, 1-min(f.Bits, 24))
			for c := range want {
				if len(got[c]) != len(want[c]) {
					t.Fatalf("channel %d: %d frames, want %d", c, len(got[c]), len(want[c]))
				}
				worst := 0.0
				for i := range want[c] {
					worst = max(worst, math.Abs(got[c][i]-want[c][i]))
				}
				if worst > tol {
					t.Errorf("channel %d differs from the float reference by %g, more than %g", c, worst, tol)
				}
			}
		})
	}
}

// TestSoxPipe reads a file sox streamed to a pipe, whose data size is
// sox's placeholder because it could not seek back to patch it.
func TestSoxPipe(t *testing.T) {
	sox := needSox(t)
	out, err := exec.Command(sox, "-D", "-n", "-r", "48000", "-c", "1", "-e", "signed-integer", "-b", "24",
		"-t", "wav", "-", "synth", "0.1", "sine", "1000").Output()
	if err != nil {
		t.Fatalf("sox: %v", err)
	}
	rd, err := NewReader(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if rd.Frames() != -1 {
		t.Errorf("Frames() = %d, want -1 (unknown) for a streamed file", rd.Frames())
	}
	_, data := readAllBytes(t, out)
	if len(data[0]) != 4800 {
		t.Fatalf("read %d frames from the pipe, want 4800", len(data[0]))
	}
}

// TestSoxReadsOurs has sox read what Writer wrote.
func TestSoxReadsOurs(t *testing.T) {
	sox := needSox(t)
	path := filepath.Join(t.TempDir(), "ours.wav")
	in := testSignal(3, 12345)
	in[0][0] = 0 // keep the infinity out of sox's statistics
	if err := WriteFile(path, 96000, in); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"-s": "12345", "-r": "96000", "-c": "3", "-b": "32", "-e": "Floating Point PCM"} {
		out, err := exec.Command(sox, "--i", flag, path).CombinedOutput()
		if err != nil {
			t.Fatalf("sox --i %s: %v\n%s", flag, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("sox --i %s = %q, want %q", flag, got, want)
		}
	}
	// And the samples themselves: sox's peak must be ours.
	out, err := exec.Command(sox, path, "-n", "remix", "2", "stat").CombinedOutput()
	if err != nil {
		t.Fatalf("sox stat: %v\n%s", err, out)
	}
	peak := 0.0
	for _, v := range in[1] {
		peak = max(peak, float64(v))
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Maximum amplitude:") {
			got, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Maximum amplitude:")), 64)
			if math.Abs(got-peak) > 1e-6 {
				t.Errorf("sox sees peak %v, we wrote %v", got, peak)
			}
			return
		}
	}
	t.Fatalf("no Maximum amplitude in sox stat output:\n%s", out)
}
