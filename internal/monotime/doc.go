// Package monotime reads CLOCK_MONOTONIC the way the Go runtime does:
// through the vDSO, with no system call.
//
// The interrupt loop timestamps every wake-up on CLOCK_MONOTONIC, the
// clock JACK and PipeWire publish their cycle times on. unix.ClockGettime
// is a real system call, and every system call a goroutine makes is a
// point where the scheduler may hand its P to another thread: under a
// busy collector the loop then waits, after the call, for a P to come
// free (measured: milliseconds). The runtime's own clock read is the same
// clock_gettime(CLOCK_MONOTONIC) through the vDSO, without that.
package monotime
