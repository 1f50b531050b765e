package analysis

import (
	"math"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sgbridge/sgbridge/internal/wav"
)

// TestSoxTone measures a tone made by an independent tool: sox's
// undithered 24-bit 997 Hz at -6 dBFS, whose THD+N is the 24-bit
// quantisation floor, 20*log10((2^-23/sqrt(12)) / (0.5/sqrt(2))) = -140.3 dB.
func TestSoxTone(t *testing.T) {
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Skip("sox NOT INSTALLED: skipping the cross-check against sox's tone (apt-get install sox)")
	}
	path := filepath.Join(t.TempDir(), "tone.wav")
	out, err := exec.Command(sox, "-D", "-n", "-r", "48000", "-c", "1", "-e", "signed-integer", "-b", "24",
		path, "synth", "5", "sine", "997", "vol", "0.5").CombinedOutput()
	if err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}
	_, data, err := wav.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db, fit, err := THDN(data[0], rate, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := 20 * math.Log10(math.Ldexp(1, -23)/math.Sqrt(12)/(0.5/math.Sqrt2))
	t.Logf("sox 24-bit -6 dBFS 997 Hz: THD+N %.2f dB (theory %.2f), %.9f Hz, amp %.7f", db, want, fit.Freq, fit.Amp)
	if math.Abs(db-want) > 1 {
		t.Errorf("THD+N %.2f dB, want %.2f +- 1", db, want)
	}
	if math.Abs(fit.Freq/997-1) > 1e-9 {
		t.Errorf("frequency %.9f Hz, want 997", fit.Freq)
	}
	gs, err := Glitches(data[0], rate, 997, 4800, -110)
	if err != nil || len(gs) != 0 {
		t.Errorf("glitches in sox's tone: %v, %v", gs, err)
	}
}
