package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/bridge/pipewire"
	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/internal/pwtest"
	"github.com/sgbridge/sgbridge/internal/wav"
)

func TestResolveSink(t *testing.T) {
	up := func() bool { return true }
	down := func() bool { return false }
	for _, tc := range []struct {
		flag string
		pw   func() bool
		want string
		err  bool
	}{
		{"auto", up, "pipewire", false},
		{"auto", down, "jack", false},
		{"jack", up, "jack", false},
		{"pipewire", down, "pipewire", false},
		{"alsa", up, "", true},
	} {
		got, err := resolveSink(tc.flag, tc.pw)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%s: %q, %v; want %q (error %v)", tc.flag, got, err, tc.want, tc.err)
		}
	}
}

func TestNodePositionsAndDescription(t *testing.T) {
	if p, err := nodePositions("", 2); err != nil || strings.Join(p, ",") != "FL,FR" {
		t.Errorf("default stereo: %v %v", p, err)
	}
	if p, err := nodePositions("aux0,aux1,aux2", 3); err != nil || strings.Join(p, ",") != "AUX0,AUX1,AUX2" {
		t.Errorf("override: %v %v", p, err)
	}
	if _, err := nodePositions("FL,FR", 3); err == nil || !strings.Contains(err.Error(), "2 positions for 3 channels") {
		t.Errorf("count mismatch: %v", err)
	}
	if _, err := nodePositions("FL,ZZ", 2); err == nil || !strings.Contains(err.Error(), "ZZ") {
		t.Errorf("unknown name: %v", err)
	}
	for _, tc := range []struct{ flag, dev, want string }{
		{"", "sim", "Simulated SG grabber (sgb)"},
		{"", "uio:sgrab0", "SG grabber (sgb)"},
		{"Studio in", "sim", "Studio in"},
	} {
		spec, err := device.ParseSpec(tc.dev)
		if err != nil {
			t.Fatal(err)
		}
		if got := nodeDescription(tc.flag, spec, "sgb"); got != tc.want {
			t.Errorf("%q %s: %q, want %q", tc.flag, tc.dev, got, tc.want)
		}
	}
}

// waitNode waits until the PipeWire graph has a node named name.
func waitNode(t *testing.T, srv *pwtest.Server, name string, p *proc) pwtest.Object {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if objs, err := srv.Dump(); err == nil {
			if n, ok := pwtest.Node(objs, name); ok && n.Info.State == "running" {
				return n
			}
		}
		select {
		case <-p.done:
			t.Fatalf("sgbridge exited early (%v):\n%s", p.err, p.output())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("node %s never appeared in the PipeWire graph:\n%s", name, p.output())
	return pwtest.Object{}
}

// pwRecord records node for d with pw-record, f32 at 48 kHz, linking by
// the given positions.
func pwRecord(t *testing.T, srv *pwtest.Server, node string, positions []string, d time.Duration) [][]float64 {
	return pwRecordLinks(t, srv, node, positions, nil, d)
}

// pwRecordLinks records like pwRecord; with ports given it does not let
// WirePlumber link but links ports[i] to the recorder's i-th input itself
// (for nodes whose ports carry no positions, like a JACK client's).
func pwRecordLinks(t *testing.T, srv *pwtest.Server, node string, positions, ports []string, d time.Duration) [][]float64 {
	t.Helper()
	out := filepath.Join(t.TempDir(), "rec.wav")
	ctx, cancel := context.WithTimeout(context.Background(), d+20*time.Second)
	defer cancel()
	target := node
	if ports != nil {
		target = "0"
	}
	cmd := exec.CommandContext(ctx, "pw-record", "-P", "{ node.name = sgbrec }", "--target", target, "--rate", "48000",
		"--channels", strconv.Itoa(len(positions)), "--channel-map", strings.Join(positions, ","),
		"--format", "f32", "--latency", "256", out)
	cmd.Env = append(os.Environ(), srv.Env()...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	linked := time.Now()
	for i, src := range ports {
		dst := "sgbrec:input_" + positions[i]
		for {
			link := exec.CommandContext(ctx, "pw-link", src, dst)
			link.Env = cmd.Env
			b, err := link.CombinedOutput()
			if err == nil {
				break
			}
			if time.Since(linked) > 5*time.Second {
				t.Fatalf("pw-link %s %s: %v %s", src, dst, err, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(d)
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	f, x, err := wav.ReadFile(out)
	if err != nil {
		t.Fatalf("pw-record: %v\n%s", err, stderr.String())
	}
	if f.Channels != len(positions) || f.Rate != 48000 {
		t.Fatalf("pw-record wrote %+v", f)
	}
	// The recorder's inputs are linked one by one, WirePlumber's links as
	// much as ours: in a CI run one channel's first quantum came a cycle
	// after the others'. So the start is cut: a second when we link, a
	// quarter second when WirePlumber does.
	cut := 12000
	if ports != nil {
		cut = 48000
	}
	for c := range x {
		x[c] = x[c][min(len(x[c]), cut):]
	}
	return x
}

// TestCounterBitExactThroughPipeWire: eight channels of the counter signal
// through `sgbridge run --sink pipewire` into a private PipeWire graph,
// recorded by pw-record: every sample right, channels in order, the node
// named and described as asked.
func TestCounterBitExactThroughPipeWire(t *testing.T) {
	needBinary(t, "pw-record")
	const channels, seconds = 8, 10
	realtime(t, func() (map[string]uint64, func()) {
		srv := pwtest.StartT(t, pwtest.Config{Rate: 48000, Quantum: 256})
		p := startSgbridge(t, srv.Env(), "run", "--sink", "pipewire", "--device", "sim", "--sim-signal", "counter",
			"--channels", strconv.Itoa(channels), "--no-resample", "--latency", testLatency, "--name", "sgbpw")
		node := waitNode(t, srv, "sgbpw", p)
		x := pwRecord(t, srv, "sgbpw", pipewire.DefaultPositions(channels), seconds*time.Second)
		p.stop(t)
		srv.Stop() // the next attempt must not share the machine with this server
		st := finalStats(t, p.output())
		noteRecorderDrop(st, x)
		return st, func() {
			p.logOnFailure(t)
			for key, want := range map[string]string{
				"media.class":      "Audio/Source",
				"node.description": "Simulated SG grabber (sgbpw)",
				"audio.position":   "FL,FR,FC,LFE,RL,RR,SL,SR",
			} {
				if got := node.Prop(key); got != want {
					t.Errorf("node %s = %q, want %q", key, got, want)
				}
			}
			checked := verifyCounter(t, x)
			t.Logf("%d frames x %d channels bit-exact and continuous (%.1f s); sgbridge at exit: %v", checked, channels, float64(checked)/48000, st)
			if checked < (seconds-2)*48000 {
				t.Fatalf("only %d frames carried the signal", checked)
			}
			if st["underruns"] != 0 || st["xruns"] != 0 || st["lost_irqs"] != 0 || st["overflow_frames"] != 0 {
				t.Fatalf("want 0 underruns, xruns, lost interrupts, overflows; got %v", st)
			}
		}
	})
}

// TestAutoSinkPicksPipeWire: with a PipeWire daemon reachable and no JACK
// server, --sink auto lands in PipeWire.
func TestAutoSinkPicksPipeWire(t *testing.T) {
	srv := pwtest.StartT(t, pwtest.Config{Rate: 48000, Quantum: 256})
	env := append(srv.Env(), "JACK_DEFAULT_SERVER=sgbridge-no-such-server", "JACK_NO_START_SERVER=1")
	p := startSgbridge(t, env, "run", "--sink", "auto", "--name", "sgbauto")
	p.logOnFailure(t)
	waitNode(t, srv, "sgbauto", p)
	p.stop(t)
}

// TestJACKSinkUnderPwJack: the JACK sink against PipeWire's libjack
// (pw-jack) carries the counter bit-exact too.
func TestJACKSinkUnderPwJack(t *testing.T) {
	const channels, seconds = 4, 6
	lib := pwJackLib(t)
	realtime(t, func() (map[string]uint64, func()) {
		srv := pwtest.StartT(t, pwtest.Config{Rate: 48000, Quantum: 256})
		env := append(srv.Env(), lib...)
		p := startSgbridge(t, env, "run", "--sink", "jack", "--device", "sim", "--sim-signal", "counter",
			"--channels", strconv.Itoa(channels), "--no-resample", "--latency", testLatency, "--name", "sgbpwj")
		waitNode(t, srv, "sgbpwj", p)
		// A JACK client's ports carry no positions; link in port order.
		var ports []string
		for i := range channels {
			ports = append(ports, fmt.Sprintf("sgbpwj:capture_%d", i+1))
		}
		x := pwRecordLinks(t, srv, "sgbpwj", []string{"AUX0", "AUX1", "AUX2", "AUX3"}, ports, (seconds+1)*time.Second)
		p.stop(t)
		srv.Stop() // the next attempt must not share the machine with this server
		st := finalStats(t, p.output())
		noteRecorderDrop(st, x)
		return st, func() {
			p.logOnFailure(t)
			checked := verifyCounter(t, x)
			t.Logf("under pw-jack: %d frames x %d channels bit-exact (%.1f s); sgbridge at exit: %v", checked, channels, float64(checked)/48000, st)
			if checked < (seconds-2)*48000 {
				t.Fatalf("only %d frames carried the signal", checked)
			}
		}
	})
}

// pwJackLib is the environment that makes a JACK client (sgbridge's sink)
// load PipeWire's libjack, as pw-jack does, with the graph's quantum. It
// skips the test, loudly, when pipewire-jack is not installed.
func pwJackLib(t *testing.T) []string {
	t.Helper()
	needBinary(t, "pw-jack", "pw-record")
	dir := "/usr/lib/x86_64-linux-gnu/pipewire-0.3/jack"
	if _, err := os.Stat(filepath.Join(dir, "libjack.so.0")); err != nil {
		t.Skipf("SKIPPED LOUDLY: pipewire-jack NOT INSTALLED (%v)", err)
	}
	return []string{"LD_LIBRARY_PATH=" + dir, "PIPEWIRE_QUANTUM=256/48000"}
}

// TestDriftSineThroughJACKUnderPipeWire is the drift issue's JACK
// measurement with a graph whose clock is exact: sgbridge's JACK sink
// (its C process callback, jack_get_cycle_times through the timing
// seqlock, the port latency) served by PipeWire's JACK library, a
// simulated grabber 200 ppm fast, 10 s settle, 30 s recorded, the issue's
// bars. jackd's dummy driver cannot be the judge of 0.1 ppm on a virtual
// machine: its timing, in its published cycle times and in its clients'
// wake-ups alike, wanders by 1-8 ppm from one 10 s window to the next
// (scripts/jack-clock.sh), so nothing a client sees tells the graph's rate
// to 0.1 ppm within the test's 40 s.
func TestDriftSineThroughJACKUnderPipeWire(t *testing.T) {
	const ppm, channels = 200, 2
	const settle, measure = 10 * time.Second, 30 * time.Second
	lib := pwJackLib(t)
	realtime(t, func() (map[string]uint64, func()) {
		srv := pwtest.StartT(t, pwtest.Config{Rate: 48000, Quantum: 256})
		env := append(srv.Env(), lib...)
		p := startSgbridge(t, env, "run", "--sink", "jack", "--device", "sim", "--sim-signal", "sine",
			"--sim-ppm", strconv.Itoa(ppm), "--channels", strconv.Itoa(channels), "--latency", testLatency, "--name", "sgbpwd")
		waitNode(t, srv, "sgbpwd", p)
		time.Sleep(settle)
		x := pwRecordLinks(t, srv, "sgbpwd", []string{"AUX0", "AUX1"}, []string{"sgbpwd:capture_1", "sgbpwd:capture_2"}, measure)
		p.stop(t)
		st := finalStats(t, p.output())
		srv.Stop()
		graph := pipewireDummyRate(48000, 256)
		noteSineRecorderDrop(st, x, []float64{sineTruth(0, ppm, graph), sineTruth(1, ppm, graph)})
		return st, func() {
			p.logOnFailure(t)
			t.Logf("sgbridge at exit: %v", st)
			checkSinesAt(t, x, ppm, graph, issueBars)
			if st["underruns"] != 0 || st["xruns"] != 0 || st["overflow_frames"] != 0 {
				t.Errorf("want 0 underruns, xruns and overflows, got %v", st)
			}
		}
	})
}

// TestDriftControlledThroughPipeWire is the PipeWire issue's headline
// figure: a simulated grabber 150 ppm fast, resampled by sgbridge against
// the PipeWire graph clock; after a 10 s settle pw-record takes 30 s, and
// the sines must sit at their true frequencies within 0.1 ppm, with THD+N
// <= -120 dB in every 100 ms window, no glitches, no underrun.
func TestDriftControlledThroughPipeWire(t *testing.T) {
	const channels, ppm = 8, 150
	driftThroughPipeWire(t, "sgbdrift", channels, ppm, 0, func() ([]string, func(map[string]uint64)) {
		return []string{"--device", "sim", "--sim-signal", "sine", "--sim-ppm", strconv.Itoa(ppm)}, nil
	})
}

// The drift issue's GC-pressure target where the graph's clock is exact:
// a goroutine allocating 500 MB/s inside sgbridge, and still no underrun,
// no xrun and the clean-sine bars. A Go thread at SCHED_FIFO failed this
// with 88-150 ms stalls (internal/rt/sgb_rt.c says why); the interrupt
// loop now runs Go at SCHED_OTHER and only waits at SCHED_FIFO.
func TestDriftUnderGCPressureThroughPipeWire(t *testing.T) {
	const ppm = 200
	driftThroughPipeWire(t, "sgbgc", 2, ppm, 500, func() ([]string, func(map[string]uint64)) {
		return []string{"--device", "sim", "--sim-signal", "sine", "--sim-ppm", strconv.Itoa(ppm)}, nil
	})
}

// driftThroughPipeWire is the drift issue's measurement through a private
// PipeWire graph at 48 kHz/256: sgbridge runs as node name with channels
// channels from the device that setup prepares (its return: the device's
// run flags), resampling; after a 10 s settle pw-record takes 30 s, and
// the sines of a device ppm fast must sit at their true frequencies within
// 0.1 ppm, with THD+N <= -120 dB in every 100 ms window, no glitches, no
// underrun, xrun or overflow. setup runs once per attempt (realtime);
// its second result (nil: nothing) is called after the run with the
// run's statistics, to log the device's own report or add to what
// realtime judges.
func driftThroughPipeWire(t *testing.T, name string, channels int, ppm, gcMBps float64, setup func() ([]string, func(map[string]uint64))) {
	t.Helper()
	needBinary(t, "pw-record")
	const settle, measure = 10 * time.Second, 30 * time.Second
	realtime(t, func() (map[string]uint64, func()) {
		device, after := setup()
		srv := pwtest.StartT(t, pwtest.Config{Rate: 48000, Quantum: 256})
		args := append([]string{"run", "--sink", "pipewire", "--channels", strconv.Itoa(channels), "--name", name,
			"--latency", testLatency}, device...)
		args = append(args, gcStressArgs(gcMBps)...)
		p := startSgbridge(t, srv.Env(), args...)
		waitNode(t, srv, name, p)
		time.Sleep(settle)
		x := pwRecord(t, srv, name, pipewire.DefaultPositions(channels), measure)
		p.stop(t)
		st := finalStats(t, p.output())
		srv.Stop()
		if after != nil {
			after(st)
		}
		truths := make([]float64, channels)
		for c := range truths {
			truths[c] = sineTruth(c, ppm, pipewireDummyRate(48000, 256))
		}
		noteSineRecorderDrop(st, x, truths)
		return gcSeen(st, gcMBps), func() {
			p.logOnFailure(t)
			t.Logf("sgbridge at exit: %v", st)
			checkSinesAt(t, x, ppm, pipewireDummyRate(48000, 256), issueBars)
			if st["underruns"] != 0 || st["xruns"] != 0 || st["overflow_frames"] != 0 {
				t.Errorf("want 0 underruns, xruns and overflows, got %v", st)
			}
		}
	})
}
