// Package sim is a simulated SG grabber: N buffers of one period each,
// completed round-robin by a device clock that runs ppm off nominal, with
// optional interrupt jitter, lost interrupts and stalls. It fills its
// buffers the way DMA would (native format, in a memfd whose buffers are
// scattered, so the ring view is exercised as with real hardware) with a
// sine per channel, a bit-exact counter, or silence.
//
// It runs on the real clock (absolute sleeps on CLOCK_MONOTONIC) or on a
// virtual clock that tests advance, so hours of device time pass in seconds.
package sim
