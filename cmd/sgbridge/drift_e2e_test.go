package main

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/device/sim"
	"github.com/sgbridge/sgbridge/internal/analysis"
	"github.com/sgbridge/sgbridge/internal/jackd"
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

	x := record(t, env, "sgbd:capture_*", channels, seconds)
	p.stop(t)
	st := finalStats(t, p.output())
	t.Logf("sgbridge at exit: %v", st)
	if len(x) != channels || len(x[0]) < (seconds-1)*48000 {
		t.Fatalf("recorded %d channels, %d frames", len(x), len(x[0]))
	}
	checkSines(t, x, ppm)
	if st["underruns"] != 0 || st["xruns"] != 0 || st["overflow_frames"] != 0 {
		t.Errorf("want 0 underruns, xruns and overflows, got %v", st)
	}
}

// checkSines applies the drift issue's analysis to a recording of the
// simulator's sine signal from a device ppm fast, after settling: every
// channel at its true frequency F·(1+c/4)·(1+ppm) within 0.1 ppm over the
// whole recording, THD+N at or below -120 dB in every 100 ms window, and
// no glitch above -110 dB.
func checkSines(t *testing.T, x [][]float64, ppm float64) {
	t.Helper()
	const rate = 48000.0
	for c := range x {
		truth := sim.ChannelFreq(sim.DefaultFreq, c) * (1 + ppm*1e-6)
		s := x[c][analysis.SkipZeros(x[c]):]
		if len(s) < int(10*rate) {
			t.Fatalf("channel %d: only %d frames of signal", c+1, len(s))
		}
		fit, err := analysis.FitSine(s, rate, truth)
		if err != nil {
			t.Fatalf("channel %d: %v", c+1, err)
		}
		off := (fit.Freq/truth - 1) * 1e6
		ws, err := analysis.Windows(s, rate, truth, 4800)
		if err != nil {
			t.Fatalf("channel %d: %v", c+1, err)
		}
		sum := analysis.Summarize(ws)
		glitches, err := analysis.Glitches(s, rate, truth, 4800, -110)
		if err != nil {
			t.Fatalf("channel %d: %v", c+1, err)
		}
		t.Logf("channel %d: %.6f Hz (%+.4f ppm from the true %.6f Hz); %s; %d glitches above -110 dB",
			c+1, fit.Freq, off, truth, sum, len(glitches))
		if math.Abs(off) > 0.1 {
			t.Errorf("channel %d: frequency %+.4f ppm from the device's true frequency (limit 0.1)", c+1, off)
		}
		if sum.Missing > 0 || sum.WorstTHDN > -120 {
			t.Errorf("channel %d: worst 100 ms window %.1f dB THD+N at frame %d, %d windows without a sine (limit -120)",
				c+1, sum.WorstTHDN, sum.WorstStart, sum.Missing)
		}
		if len(glitches) > 0 {
			t.Errorf("channel %d: %d glitches, first at %v", c+1, len(glitches), glitches[:min(5, len(glitches))])
		}
	}
}
