package main

import (
	"context"
	"time"
)

// gcStress allocates mbps megabytes per second until ctx is done, keeping
// a few megabytes live so the collector has marking to do. It exists to
// prove, in the end-to-end tests, that a busy Go heap cannot reach the
// audio: the process callback is C and the queue is not Go memory.
func gcStress(ctx context.Context, mbps float64) {
	const chunk = 64 << 10
	live := make([][]byte, 64) // 4 MiB live
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	perTick := int(mbps * 1e6 * 0.005 / chunk)
	i := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for range perTick {
			b := make([]byte, chunk)
			b[0], b[chunk-1] = byte(i), byte(i)
			live[i%len(live)] = b
			i++
		}
	}
}
