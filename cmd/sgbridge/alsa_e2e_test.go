package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/internal/alsatest"
	"github.com/sgbridge/sgbridge/internal/analysis"
	"github.com/sgbridge/sgbridge/internal/jackd"
	"github.com/sgbridge/sgbridge/internal/pwtest"
)

// TestALSADevicesListed: sgbridge devices lists the PortAudio capture
// devices, as alsa:NAME and as pa:INDEX.
func TestALSADevicesListed(t *testing.T) {
	pcm := alsatest.New(t, alsatest.PCM{Name: "sglistme", PPM: 25})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sgbridgeBin(t), "devices")
	cmd.Env = append(os.Environ(), pcm.Env()...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sgbridge devices: %v\n%s", err, out)
	}
	t.Logf("sgbridge devices:\n%s", out)
	alsa := regexp.MustCompile(`(?m)^alsa:sglistme\s+8 ch, 48000 Hz default, ALSA$`)
	pa := regexp.MustCompile(`(?m)^(pa:\d+)\s+"sglistme", 8 ch, 48000 Hz default, ALSA$`)
	if !alsa.Match(out) {
		t.Errorf("alsa:sglistme not listed")
	}
	if !pa.Match(out) {
		t.Errorf("sglistme not listed as pa:INDEX")
	}
}

// TestALSAIntoJACKCleanGraph: bridging a card into JACK adds sgbridge's
// client to the graph and nothing else, and at the default latency the
// graph is told no more than the PortAudio issue's bar (608 frames at
// 256/256, against zita-a2j's two periods and a graph period).
// PortAudio's JACK host API would add a client of its own from inside
// sgbridge's process, which stopped finishing its cycles once a recorder
// joined the graph: before it was kept out, jackd logged "client =
// PortAudio was not finished" and counted 3,650 xruns in 34 s.
func TestALSAIntoJACKCleanGraph(t *testing.T) {
	needBinary(t, "jackd", "jack_capture", "jack_lsp")
	pcm := alsatest.New(t, alsatest.PCM{Name: "sgclean", PPM: 200})
	srv := jackd.StartT(t, 48000, 256)
	env := append([]string{"JACK_DEFAULT_SERVER=" + srv.Name, "JACK_NO_START_SERVER=1"}, pcm.Env()...)
	p := startSgbridge(t, env, "run", "--device", "alsa:sgclean", "--sink", "jack", "--channels", "2",
		"--period", "256", "--name", "sgbc")
	p.logOnFailure(t)
	waitPorts(t, srv.Name, "sgbc:capture_", 2, p)
	// Default latency: what the graph is told is held to the bar.
	lat := portLatencies(t, env)["sgbc:capture_1"]
	t.Logf("capture latency reported to the graph: %d frames", lat)
	checkLatencyBar(t, lat, 256)
	recordPorts(t, env, []string{"sgbc:capture_1"}, 3)
	p.stop(t)
	if out := srv.Output(); strings.Contains(out, "PortAudio") {
		t.Fatalf("a PortAudio client joined the graph; jackd says:\n%s", out)
	}
	st := finalStats(t, p.output())
	t.Logf("sgbridge at exit: %v", st)
	if st["xruns"] > 3 {
		// A few can be this machine's; hundreds a second were the bug.
		t.Errorf("%v server xruns in 3 s", st["xruns"])
	}
}

// TestALSAVanishAndReturn unplugs the PCM under a running sgbridge --wait:
// the ports stay (playing silence), and when the PCM is back the sine
// comes back, without restarting the sink.
func TestALSAVanishAndReturn(t *testing.T) {
	needBinary(t, "jackd", "jack_capture", "jack_lsp")
	pcm := alsatest.New(t, alsatest.PCM{Name: "sgunplug", PPM: -50})
	srv := jackd.StartT(t, 48000, 256)
	env := append([]string{"JACK_DEFAULT_SERVER=" + srv.Name, "JACK_NO_START_SERVER=1"}, pcm.Env()...)
	// The test margin: the audio after the return is judged, and at the
	// default margin (1.3 ms) one of this machine's host stalls empties the
	// queue (the default latency is TestALSAIntoJACKCleanGraph's subject).
	p := startSgbridge(t, env, "run", "--device", "alsa:sgunplug", "--sink", "jack", "--channels", "2", "--wait",
		"--latency", testLatency, "--name", "sgbv")
	p.logOnFailure(t)
	waitPorts(t, srv.Name, "sgbv:capture_", 2, p)
	time.Sleep(time.Second)
	if err := pcm.Vanish("sgunplug"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if out, _ := jackd.LSP(srv.Name); strings.Count(string(out), "sgbv:capture_") != 2 {
		t.Fatalf("ports gone while the device was away:\n%s", out)
	}
	if err := pcm.Return("sgunplug"); err != nil {
		t.Fatal(err)
	}
	// The returned card is a new clock on the same graph: the controller
	// measures it afresh, keeping what it knows of the graph's, with
	// whole-frame alignments (faded steps) until it locks: within 3 s or
	// so (TestSimDeviceReturns), here later, as this server is young and
	// its line must span lockSpanEdge first. What is judged is the audio
	// a second after the lock, when the trim at lock is over. Measuring
	// the graph afresh too held the lock back a line's lockSpanEdge after
	// the return, and the recording caught the steps.
	waitOutput(t, p, "device is back", 10*time.Second)
	// (A lock takes seconds: none since the return is logged yet.)
	waitOutputN(t, p, "drift locked", strings.Count(p.output(), "drift locked")+1, 15*time.Second)
	time.Sleep(time.Second)
	x := recordPorts(t, env, []string{"sgbv:capture_1"}, 3)
	p.stop(t)
	st := finalStats(t, p.output())
	if st["device_returns"] != 1 && !strings.Contains(p.output(), "device is back") {
		t.Errorf("no return logged: %v", st)
	}
	ws, err := analysis.Windows(x[0], 48000, 997*(1-50e-6), 4800)
	if err != nil {
		t.Fatalf("no sine after the device returned: %v", err)
	}
	// A second after the lock the graph rate in the feed-forward may
	// still glide, which costs a few dB against a settled run (worst
	// windows -121 to -139 dB here); silence or a faded step fails
	// -110 dB by far.
	worst := slices.MaxFunc(ws, func(a, b analysis.Window) int { return cmp.Compare(a.THDN, b.THDN) })
	t.Logf("after the return: %d windows, worst THD+N %.1f dB", len(ws), worst.THDN)
	good := slices.IndexFunc(ws, func(w analysis.Window) bool { return w.THDN > -110 })
	if good >= 0 {
		t.Errorf("window %d after the return is not clean: %.1f dB", good, ws[good].THDN)
	}
}

// recordPorts records one channel per port for seconds.
func recordPorts(t *testing.T, env, ports []string, seconds int) [][]float64 {
	t.Helper()
	x := record(t, env, len(ports), seconds, ports...)
	if len(x) != len(ports) || len(x[0]) < (seconds-1)*48000 {
		t.Fatalf("recorded %d channels of %d frames", len(x), len(x[0]))
	}
	return x
}

// TestALSADriftSineThroughPipeWire is the PortAudio issue's clean-sine
// test: an ALSA card 200 ppm fast (internal/alsatest) resampled by
// sgbridge into a private PipeWire graph; after a 10 s settle pw-record
// takes 30 s, and the sines must sit at their true frequencies within
// 0.1 ppm, with THD+N <= -120 dB in every 100 ms window, no glitches, no
// underrun or xrun. PipeWire's timer driver publishes exact cycle times,
// so the card's own timing (and how sgbridge stamps it) is all that is
// judged.
func TestALSADriftSineThroughPipeWire(t *testing.T) {
	const ppm = 200
	driftThroughPipeWire(t, "sgbapw", 2, ppm, 0, func() ([]string, func(map[string]uint64)) {
		// alsatest.New puts the PCM's configuration in this process's
		// environment, which sgbridge inherits.
		alsatest.New(t, alsatest.PCM{Name: "sgpwdrift", PPM: ppm})
		return []string{"--device", "alsa:sgpwdrift", "--period", "256"}, nil
	})
}

// TestALSASideBySideWithZitaThroughPipeWire is the PortAudio issue's
// comparison in the graph most desktops run: one ALSA PCM 200 ppm fast
// (internal/alsatest), bridged into one private PipeWire graph by sgbridge
// (its PipeWire sink) and by zita-a2j (under pw-jack, as a desktop runs
// it), each opening its own instance of the PCM; one
// pw-record takes both for 20 s after a 12 s settle. PipeWire's timer
// driver publishes exact cycle times, so what differs between the two is
// the bridges, not the graph clock they both read (on jackd's dummy
// driver those times wander here; TestALSADriftSideBySideWithZita, in
// make acceptance, is the same comparison there). Asserted: at least
// 20 dB lower median THD+N than zita-a2j, at most a fifth of its
// window-to-window frequency spread, sgbridge's every window at -120 dB,
// no glitches, no underrun, xrun or overflow.
//
// sgbridge runs with the test margin (testLatency), as the other tests
// that judge audio do: this VM's host takes the CPU away for 3-16 ms now
// and then (cyclictest at the same SCHED_FIFO priority saw 6.8 ms during
// this test), and at the default 64 frames most runs lost one cycle to
// it, then raised the margin. The margin changes nothing else the test
// measures; the latency bar at the default margin is held by
// TestALSAIntoJACKCleanGraph.
func TestALSASideBySideWithZitaThroughPipeWire(t *testing.T) {
	needBinary(t, "pw-record", "pw-jack", "zita-a2j")
	const ppm, settle, seconds, period = 200, 12, 20, 256
	dir := "/usr/lib/x86_64-linux-gnu/pipewire-0.3/jack"
	if _, err := os.Stat(filepath.Join(dir, "libjack.so.0")); err != nil {
		t.Skipf("SKIPPED LOUDLY: pipewire-jack NOT INSTALLED (%v)", err)
	}
	realtime(t, func() (map[string]uint64, func()) {
		pcm := alsatest.New(t, alsatest.PCM{Name: "sgpwside", PPM: ppm})
		srv := pwtest.StartT(t, pwtest.Config{Rate: 48000, Quantum: period})
		defer srv.Stop()
		env := append(srv.Env(), pcm.Env()...)
		p := startSgbridge(t, env, "run", "--device", "alsa:sgpwside", "--sink", "pipewire", "--channels", "2",
			"--period", strconv.Itoa(period), "--name", "sgbside", "--latency", testLatency)
		waitNode(t, srv, "sgbside", p)

		jackEnv := append(env, "LD_LIBRARY_PATH="+dir, fmt.Sprintf("PIPEWIRE_QUANTUM=%d/48000", period))
		zout, stopZita := startZita(t, jackEnv, "sgpwside", period)
		defer stopZita()
		waitNode(t, srv, "zita", p)
		time.Sleep(settle * time.Second)

		ports := []string{"sgbside:capture_FL", "zita:capture_1"}
		lat := portLatencies(t, jackEnv)
		x := pwRecordLinks(t, srv, "", []string{"AUX0", "AUX1"}, ports, seconds*time.Second)
		p.stop(t)
		st := finalStats(t, p.output())
		truth := sineTruth(0, ppm, pipewireDummyRate(48000, period))
		noteSineRecorderDrop(st, x, []float64{truth, truth})
		return st, func() {
			p.logOnFailure(t)
			t.Logf("sgbridge at exit: %v", st)
			// The latency bar is TestALSAIntoJACKCleanGraph's, at the
			// default margin; here the test margin is in it.
			judgeSideBySide(t, x, ports, lat, truth, 0)
			if st["underruns"] != 0 || st["xruns"] != 0 || st["overflow_frames"] != 0 {
				t.Errorf("want 0 underruns, xruns and overflows, got %v", st)
			}
			if t.Failed() {
				t.Logf("zita-a2j:\n%s", zout.String())
			}
		}
	})
}

// startZita starts zita-a2j as JACK client "zita" on the ALSA PCM pcm, two
// channels at 48 kHz, with the options the PortAudio issue's comparison
// names (its defaults for that period: -p period -n 2). It returns what
// zita-a2j prints and a function that stops it.
func startZita(t *testing.T, env []string, pcm string, period int) (*strings.Builder, func()) {
	t.Helper()
	z := exec.Command("zita-a2j", "-j", "zita", "-d", pcm, "-r", "48000", "-p", strconv.Itoa(period), "-n", "2", "-c", "2")
	z.Env = append(os.Environ(), env...)
	out := &strings.Builder{}
	z.Stdout, z.Stderr = out, out
	if err := z.Start(); err != nil {
		t.Fatal(err)
	}
	return out, func() {
		z.Process.Kill()
		z.Wait()
	}
}

// judgeSideBySide logs the table and asserts the comparison of
// sgbridge (x[0]) with zita-a2j (x[1]); with period > 0 also the latency
// bar on what sgbridge reported (lat, by port).
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
	if period > 0 {
		checkLatencyBar(t, lat[ports[0]], period)
	}
	t.Logf("capture latency reported to the graph: sgbridge %d frames, zita-a2j %d", lat[ports[0]], lat[ports[1]])
}

// checkLatencyBar holds the capture latency sgbridge reports to the issue's
// bar: zita-a2j's own buffering, two device periods + the graph period +
// its resampler's delay; held here without the resampler term. (zita-a2j
// reports 544 frames to the graph at 256/256: one period each and its
// resampler, no margin for its ALSA thread waking late.)
func checkLatencyBar(t *testing.T, frames, period int) {
	t.Helper()
	if bar := 3 * period; frames == 0 || frames > bar {
		t.Errorf("sgbridge reports %d frames of capture latency (want 1..%d: two device periods and a graph period)", frames, bar)
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

var (
	latRe = regexp.MustCompile(`(?m)^(\S[^\n]*)\n(?:\s+.*\n)*?\s+port capture latency = \[ \d+ (\d+) \] frames`)
	// pwPortRe is a native PipeWire node's port as pw-jack lists it:
	// "DESCRIPTION (NODE):PORT".
	pwPortRe = regexp.MustCompile(`\(([^()]+)\):([^:]+)$`)
)

// portLatencies is each port's capture latency (the range's maximum) as
// jack_lsp -l reports it ("port capture latency = [ min max ] frames"):
// what the bridge told the graph. Under pw-jack a native PipeWire node's
// ports are listed under the node's description with its name in
// brackets ("sgbridge/Audio capture (NODE):capture_FL"); they are keyed
// NODE:PORT here too, as pw-link names them.
func portLatencies(t *testing.T, env []string) map[string]int {
	ctx, cancel := context.WithTimeout(context.Background(), jackd.LSPTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "jack_lsp", "-l")
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		t.Logf("jack_lsp -l: %v", err)
		return nil
	}
	m := map[string]int{}
	for _, g := range latRe.FindAllStringSubmatch(string(out), -1) {
		m[g[1]], _ = strconv.Atoi(g[2])
		if n := pwPortRe.FindStringSubmatch(g[1]); n != nil {
			m[n[1]+":"+n[2]] = m[g[1]]
		}
	}
	return m
}
