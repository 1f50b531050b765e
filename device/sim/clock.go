package sim

import (
	"github.com/sgbridge/sgbridge/internal/monotime"
	"github.com/sgbridge/sgbridge/internal/rt"
)

// Clock is the time base a simulated device lives on, in nanoseconds.
type Clock interface {
	Now() int64
	// SleepUntil returns once Now() >= t, or earlier if stop reports true
	// (checked at least every few milliseconds on a real clock).
	SleepUntil(t int64, stop func() bool)
}

// RealClock is CLOCK_MONOTONIC, the clock JACK and PipeWire time stamps use.
type RealClock struct{}

// Now reads CLOCK_MONOTONIC through the vDSO (see internal/monotime).
func (RealClock) Now() int64 { return monotime.Now() }

// maxSleep bounds one sleep so Stop is seen promptly even with long periods.
const maxSleep = 20_000_000

// SleepUntil sleeps with absolute deadlines, so wake-ups do not accumulate
// the error that relative sleeps would.
func (c RealClock) SleepUntil(t int64, stop func() bool) {
	for {
		now := c.Now()
		if now >= t || (stop != nil && stop()) {
			return
		}
		next := t
		if next-now > maxSleep {
			next = now + maxSleep
		}
		// At SCHED_FIFO on the interrupt loop's thread, back at
		// SCHED_OTHER for the Go that follows (internal/rt).
		rt.SleepUntil(next)
	}
}

// VirtualClock is a clock that only moves when something sleeps on it.
// It is not safe for concurrent use; virtual-time tests are single-threaded.
type VirtualClock struct {
	T int64
}

// Now returns the virtual time.
func (c *VirtualClock) Now() int64 { return c.T }

// SleepUntil jumps to t.
func (c *VirtualClock) SleepUntil(t int64, _ func() bool) {
	if t > c.T {
		c.T = t
	}
}
