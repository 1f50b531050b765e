package main

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/internal/alsatest"
	"github.com/sgbridge/sgbridge/internal/analysis"
	"github.com/sgbridge/sgbridge/internal/jackd"
)

// TestALSADevicesListed: sgbridge devices lists the PortAudio capture
// devices, as alsa:NAME and as pa:INDEX.
func TestALSADevicesListed(t *testing.T) {
	pcm := alsatest.New(t, alsatest.PCM{Name: "sglistme", PPM: 25})
	cmd := exec.Command(sgbridgeBin(t), "devices")
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
// client to the graph and nothing else. PortAudio's JACK host API would
// add a client of its own from inside sgbridge's process, which stopped
// finishing its cycles once a recorder joined the graph: before it was
// kept out, jackd logged "client = PortAudio was not finished" and
// counted 3,650 xruns in 34 s.
func TestALSAIntoJACKCleanGraph(t *testing.T) {
	needBinary(t, "jackd", "jack_capture", "jack_lsp")
	pcm := alsatest.New(t, alsatest.PCM{Name: "sgclean", PPM: 200})
	srv := jackd.StartT(t, 48000, 256)
	env := append([]string{"JACK_DEFAULT_SERVER=" + srv.Name, "JACK_NO_START_SERVER=1"}, pcm.Env()...)
	p := startSgbridge(t, env, "run", "--device", "alsa:sgclean", "--sink", "jack", "--channels", "2",
		"--period", "256", "--name", "sgbc")
	p.logOnFailure(t)
	waitPorts(t, srv.Name, "sgbc:capture_", 2, p)
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
	p := startSgbridge(t, env, "run", "--device", "alsa:sgunplug", "--sink", "jack", "--channels", "2", "--wait", "--name", "sgbv")
	p.logOnFailure(t)
	waitPorts(t, srv.Name, "sgbv:capture_", 2, p)
	time.Sleep(time.Second)
	if err := pcm.Vanish("sgunplug"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if out, _ := exec.Command("jack_lsp", "-s", srv.Name).Output(); strings.Count(string(out), "sgbv:capture_") != 2 {
		t.Fatalf("ports gone while the device was away:\n%s", out)
	}
	if err := pcm.Return("sgunplug"); err != nil {
		t.Fatal(err)
	}
	// The returned card is a new clock: the controller re-acquires it,
	// with whole-frame alignments (faded steps) until it locks, ~3-5 s.
	// What is judged is the audio after that.
	waitOutput(t, p, "device is back", 10*time.Second)
	time.Sleep(6 * time.Second)
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
	// Just after locking the ratio still moves by ppm within a window,
	// which costs a few dB against a settled run; -90 dB is still a
	// whole, clean sine, and silence or a glitch fails it.
	good := slices.IndexFunc(ws, func(w analysis.Window) bool { return w.THDN > -90 })
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
	driftThroughPipeWire(t, "sgbapw", 2, ppm, func() []string {
		// alsatest.New puts the PCM's configuration in this process's
		// environment, which sgbridge inherits.
		alsatest.New(t, alsatest.PCM{Name: "sgpwdrift", PPM: ppm})
		return []string{"--device", "alsa:sgpwdrift", "--period", "256"}
	})
}
