//go:build acceptance

package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/internal/alsatest"
	"github.com/sgbridge/sgbridge/internal/analysis"
	"github.com/sgbridge/sgbridge/internal/jackd"
)

// TestALSADriftSideBySideWithZita is the measurement: one ALSA
// PCM 200 ppm fast (internal/alsatest), bridged into one private JACK
// server by sgbridge and by zita-a2j at the same time (each opens its
// own instance of the PCM, in its own process), both recorded by one
// jack_capture run. The comparison is asserted: at least 20 dB
// lower median THD+N than zita-a2j, at most a fifth of its window-to-
// window frequency spread, no glitches, no more latency than its two
// periods and a graph period; and sgbridge's every window at -120 dB.
// The recorded frequency is logged, not held to 0.1 ppm: on JACK it
// carries the error of the graph rate sgbridge measures from the times
// JACK's dummy driver publishes, which wander here by ±0.3-5 ppm over the
// first minute (the drift issue's notes); TestALSADriftSineThroughPipeWire
// holds the card's path to the 0.1 ppm bar through a graph whose times
// are exact.
func TestALSADriftSideBySideWithZita(t *testing.T) {
	needBinary(t, "jackd", "jack_capture", "jack_lsp", "zita-a2j")
	const ppm, settle, seconds, period = 200, 12, 20, 256
	realtime(t, func() (map[string]uint64, func()) {
		pcm := alsatest.New(t, alsatest.PCM{Name: "sgdrift", PPM: ppm})
		srv := jackd.StartT(t, 48000, period)
		defer srv.Stop()
		env := append([]string{"JACK_DEFAULT_SERVER=" + srv.Name, "JACK_NO_START_SERVER=1"}, pcm.Env()...)

		p := startSgbridge(t, env, "run", "--device", "alsa:sgdrift", "--sink", "jack", "--channels", "2",
			"--period", strconv.Itoa(period), "--name", "sgba")
		waitPorts(t, srv.Name, "sgba:capture_", 2, p)

		z := exec.Command("zita-a2j", "-j", "zita", "-d", "sgdrift", "-r", "48000", "-p", strconv.Itoa(period), "-n", "2", "-c", "2")
		z.Env = append(os.Environ(), env...)
		var zout strings.Builder
		z.Stdout, z.Stderr = &zout, &zout
		if err := z.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			z.Process.Kill()
			z.Wait()
		}()
		waitPorts(t, srv.Name, "zita:capture_", 2, p)
		time.Sleep(settle * time.Second)

		ports := []string{"sgba:capture_1", "zita:capture_1"}
		lat := portLatencies(t, srv.Name)
		x := recordPorts(t, env, ports, seconds)
		p.stop(t)
		st := finalStats(t, p.output())
		return st, func() {
			p.logOnFailure(t)
			t.Logf("sgbridge at exit: %v", st)
			judgeSideBySide(t, x, ports, lat, 997*(1+ppm*1e-6), period)
			if st["underruns"] != 0 || st["xruns"] != 0 || st["overflow_frames"] != 0 {
				t.Errorf("want 0 underruns, xruns and overflows, got %v", st)
			}
			if t.Failed() {
				t.Logf("zita-a2j:\n%s", zout.String())
			}
		}
	})
}

// judgeSideBySide logs the table and asserts the comparison of
// sgbridge (x[0]) with zita-a2j (x[1]).
func judgeSideBySide(t *testing.T, x [][]float64, ports []string, lat map[string]int, truth float64, period int) {
	t.Helper()
	t.Logf("%-9s %14s %14s %16s %10s %9s", "bridge", "THD+N median", "THD+N worst", "freq spread", "offset", "latency")
	res := make([]result, len(ports))
	for i, name := range ports {
		r := measure(t, x[i], truth)
		res[i] = r
		t.Logf("%-9s %11.1f dB %11.1f dB %12.4f ppm %+7.3f ppm %6d fr  glitches %d",
			strings.Split(name, ":")[0], r.sum.MedianTHDN, r.sum.WorstTHDN, r.spreadPPM, r.offPPM, lat[name], r.glitches)
	}
	r, z := res[0], res[1]
	if r.sum.WorstTHDN > -120 {
		t.Errorf("sgbridge: worst 100 ms window %.1f dB THD+N at frame %d (limit -120)", r.sum.WorstTHDN, r.sum.WorstStart)
	}
	if r.glitches > 0 {
		t.Errorf("sgbridge: %d glitches", r.glitches)
	}
	if d := z.sum.MedianTHDN - r.sum.MedianTHDN; d < 20 {
		t.Errorf("sgbridge's median THD+N only %.1f dB below zita-a2j's (want >= 20)", d)
	}
	if r.spreadPPM > z.spreadPPM/5 {
		t.Errorf("sgbridge's frequency spread %.2f ppm is more than a fifth of zita-a2j's %.2f ppm", r.spreadPPM, z.spreadPPM)
	}
	// Latency: the bar is zita-a2j's own buffering, two device
	// periods + the graph period + its resampler's delay; held here
	// without the resampler term. (zita-a2j reports 544 frames to the
	// graph at 256/256: one period each and its resampler, no margin for
	// its ALSA thread waking late.)
	ls, lz := lat[ports[0]], lat[ports[1]]
	t.Logf("capture latency reported to the graph: sgbridge %d frames, zita-a2j %d", ls, lz)
	if bar := 3 * period; ls == 0 || ls > bar {
		t.Errorf("sgbridge reports %d frames of capture latency (want 1..%d: two device periods and a graph period)", ls, bar)
	}
}

type result struct {
	sum               analysis.Summary
	offPPM, spreadPPM float64
	glitches          int
}

func measure(t *testing.T, x []float64, truth float64) result {
	t.Helper()
	fit, err := analysis.FitSine(x, 48000, truth)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := analysis.Windows(x, 48000, truth, 4800)
	if err != nil {
		t.Fatal(err)
	}
	_, std := analysis.Spread(ws)
	g, err := analysis.Glitches(x, 48000, truth, 4800, -110)
	if err != nil {
		t.Fatal(err)
	}
	return result{sum: analysis.Summarize(ws), offPPM: (fit.Freq/truth - 1) * 1e6, spreadPPM: std / truth * 1e6, glitches: len(g)}
}

var latRe = regexp.MustCompile(`(?m)^(\S+)\n(?:\s+.*\n)*?\s+port capture latency = \[ \d+ (\d+) \] frames`)

// portLatencies is each port's capture latency (the range's maximum) as
// jack_lsp -l reports it ("port capture latency = [ min max ] frames"):
// what the bridge told the graph.
func portLatencies(t *testing.T, server string) map[string]int {
	out, err := exec.Command("jack_lsp", "-s", server, "-l").Output()
	if err != nil {
		t.Logf("jack_lsp -l: %v", err)
		return nil
	}
	m := map[string]int{}
	for _, g := range latRe.FindAllStringSubmatch(string(out), -1) {
		m[g[1]], _ = strconv.Atoi(g[2])
	}
	return m
}
