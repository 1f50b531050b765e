//go:build acceptance

package main

import (
	"strconv"
	"testing"
	"time"
)

// TestDriftHoldsThroughJACK is drift control on a real server: a simulated grabber 200 ppm fast into a private JACK server,
// 10 s to settle, 30 s recorded by jack_capture, held to holdBars with no
// underrun, xrun or overflow.
func TestDriftHoldsThroughJACK(t *testing.T) { driftThroughJACK(t, 0, holdBars) }

// driftThroughJACK runs a simulated grabber ppm fast into a private
// real-time JACK server, lets it settle, records 30 s with a real client
// and holds the recording to b; sgbridge must end with no underrun, xrun
// or overflow.
func driftThroughJACK(t *testing.T, gcMBps float64, b sineBars) {
	needBinary(t, "jackd", "jack_capture", "jack_lsp")
	const ppm, settle, seconds, channels = 200, 10, 30, 2
	realtime(t, func() (map[string]uint64, func()) {
		args := []string{"--device", "sim", "--sim-signal", "sine", "--sim-ppm", strconv.Itoa(ppm),
			"--channels", strconv.Itoa(channels), "--latency", testLatency}
		args = append(args, gcStressArgs(gcMBps)...)
		x, st, p := throughJACK(t, "sgbd", channels, settle*time.Second, seconds*time.Second, args...)
		return gcSeen(st, gcMBps), func() {
			p.logOnFailure(t)
			if len(x) != channels || len(x[0]) < (seconds-1)*48000 {
				t.Fatalf("recorded %d channels, %d frames", len(x), len(x[0]))
			}
			checkSines(t, x, ppm, b)
			if st["underruns"] != 0 || st["xruns"] != 0 || st["overflow_frames"] != 0 {
				t.Errorf("want 0 underruns, xruns and overflows, got %v", st)
			}
		}
	})
}
