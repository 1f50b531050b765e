package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/internal/jackd"
)

// TestJACKServerRestartSurvived: the JACK server sgbridge feeds stops and
// a new one starts under the same name. sgbridge says the server is gone,
// keeps the device running, says when it is back, registers the same
// ports there, and the audio that then arrives is bit-exact and
// continuous, without a restart of sgbridge.
func TestJACKServerRestartSurvived(t *testing.T) {
	needBinary(t, "jackd", "jack_capture", "jack_lsp")
	srv := jackd.StartT(t, 48000, 256)
	env := []string{"JACK_DEFAULT_SERVER=" + srv.Name, "JACK_NO_START_SERVER=1"}
	p := startSgbridge(t, env, "run", "--device", "sim", "--sim-signal", "counter", "--channels", "2",
		"--no-resample", "--latency", testLatency, "--name", "sgbrs")
	p.logOnFailure(t)
	waitPorts(t, srv.Name, "sgbrs:capture_", 2, p)
	time.Sleep(time.Second)

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, p, "JACK server gone", 10*time.Second)
	time.Sleep(time.Second) // the device runs on, its audio dropped
	back, err := jackd.Start(srv.Name, 48000, 256)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Stop()
	waitOutput(t, p, "JACK server is back", 10*time.Second)
	waitPorts(t, back.Name, "sgbrs:capture_", 2, p)

	const seconds = 5
	x := record(t, env, 2, seconds, "sgbrs:capture_*")
	p.stop(t)
	st := finalStats(t, p.output())
	checked := verifyCounter(t, x)
	t.Logf("after the restart: %d frames x 2 channels bit-exact and continuous; sgbridge at exit: %v", checked, st)
	if checked < (seconds-1)*48000 {
		t.Fatalf("only %d frames carried the signal after the restart", checked)
	}
	if n := strings.Count(p.output(), "JACK server gone"); n != 1 {
		t.Errorf("the server's going was logged %d times, want once", n)
	}
}
