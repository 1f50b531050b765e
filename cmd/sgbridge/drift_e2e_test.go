package main

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/device/sim"
	"github.com/sgbridge/sgbridge/internal/analysis"
	"github.com/sgbridge/sgbridge/internal/jackd"
	"github.com/sgbridge/sgbridge/internal/wav"
)

// TestDriftSineThroughJACK is drift control on a real server: a simulated
// grabber 200 ppm fast into a private JACK server; after a 10 s settle a
// real client records 30 s, and the sines must sit at the device's true
// frequencies, clean in every 100 ms window.
func TestDriftSineThroughJACK(t *testing.T) { driftThroughJACK(t, 0) }

// The same with the process allocating 500 MB/s: the C callback and the
// queue's margin must keep the audio whole.
func TestDriftSineThroughJACKUnderGCPressure(t *testing.T) { driftThroughJACK(t, 500) }

func driftThroughJACK(t *testing.T, gcMBps float64) {
	needBinary(t, "jackd", "jack_capture", "jack_lsp")
	const ppm, settle, seconds, channels = 200, 10, 30, 2
	srv := jackd.StartT(t, 48000, 256)
	env := []string{"JACK_DEFAULT_SERVER=" + srv.Name, "JACK_NO_START_SERVER=1"}
	args := []string{"run", "--device", "sim", "--sim-signal", "sine", "--sim-ppm", strconv.Itoa(ppm),
		"--channels", strconv.Itoa(channels), "--name", "sgbd"}
	if gcMBps > 0 {
		args = append(args, "--gc-stress", strconv.FormatFloat(gcMBps, 'f', -1, 64))
	}
	p := startSgbridge(t, env, args...)
	p.logOnFailure(t)
	waitPorts(t, srv.Name, "sgbd:capture_", channels, p)
	time.Sleep(settle * time.Second)

	out := filepath.Join(t.TempDir(), "sine.wav")
	ctx, cancel := context.WithTimeout(context.Background(), (seconds+30)*time.Second)
	defer cancel()
	rec := exec.CommandContext(ctx, "jack_capture", "--daemon", "-c", strconv.Itoa(channels),
		"-p", "sgbd:capture_*", "-d", strconv.Itoa(seconds), out)
	rec.Env = append(os.Environ(), env...)
	if b, err := rec.CombinedOutput(); err != nil {
		t.Fatalf("jack_capture: %v\n%s", err, b)
	}
	p.stop(t)
	st := finalStats(t, p.output())
	t.Logf("sgbridge at exit: %v", st)

	_, x, err := wav.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(x) != channels || len(x[0]) < (seconds-1)*48000 {
		t.Fatalf("recorded %d channels, %d frames", len(x), len(x[0]))
	}
	for c := range channels {
		truth := sim.ChannelFreq(sim.DefaultFreq, c) * (1 + ppm*1e-6)
		fit, err := analysis.FitSine(x[c], 48000, truth)
		if err != nil {
			t.Fatal(err)
		}
		offPPM := (fit.Freq/truth - 1) * 1e6
		ws, err := analysis.Windows(x[c], 48000, truth, 4800)
		if err != nil {
			t.Fatal(err)
		}
		sum := analysis.Summarize(ws)
		glitches, err := analysis.Glitches(x[c], 48000, truth, 4800, -110)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("channel %d: %.6f Hz (%+.4f ppm from the true %.6f Hz); %s; %d glitches above -110 dB",
			c+1, fit.Freq, offPPM, truth, sum, len(glitches))
		if math.Abs(offPPM) > 0.1 {
			t.Errorf("channel %d: frequency %+.4f ppm from the device's true frequency (limit 0.1)", c+1, offPPM)
		}
		if sum.WorstTHDN > -120 {
			t.Errorf("channel %d: worst 100 ms window %.1f dB THD+N at frame %d (limit -120)", c+1, sum.WorstTHDN, sum.WorstStart)
		}
		if len(glitches) > 0 {
			t.Errorf("channel %d: glitches at %v", c+1, glitches[:min(5, len(glitches))])
		}
	}
	if st["underruns"] != 0 || st["xruns"] != 0 || st["overflow_frames"] != 0 {
		t.Errorf("want 0 underruns, xruns and overflows, got %v", st)
	}
}
