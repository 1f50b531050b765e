// Package drift is sgbridge's drift controller: it measures the capture
// device's clock against the graph's and returns, at every device
// interrupt, the resampling ratio that holds the queue between them at a
// target latency, plus whole-frame corrections at start-up and on faults.
//
// It is a pure function of timestamped events: Update takes what the
// interrupt loop knows (its wake-up time and the device frame count, the
// sink's newest published cycle, the resampler's and the ring's counters)
// and reads no clock, starts no goroutine and allocates nothing, so the
// same code runs in the engine and on virtual time in the tests.
//
// # The error
//
// Let t_s be the start of the newest sink cycle (the server's filtered
// time, smoothed again here by the sink clock filter) and R_s the ring
// read position then. D(t) is the device frame position at time t,
// interpolated by the device clock filter over the interrupt timestamps.
// The ring frame at position w came from device position X(w): at each
// update the controller records the pair (Written, Consumed - Delay),
// i.e. the next ring frame comes from the device position the resampler
// will read next minus its delay; between pairs X is linear, before the
// oldest it is extrapolated at the ratio. Corrections add their own pairs
// (inserted frames carry the positions just before, withheld frames move
// the source on).
//
// The latency of the frame read at t_s, in device frames, is
// D(t_s) - X(R_s); in graph frames (the unit of the ring and of the
// target) it is that times the true rate ratio graph/device, which the
// two clock filters measure (r_ff = nominal · p_dev / p_sink, p being each
// clock's true seconds per nominal second). So
//
//	e = (D(t_s) - X(R_s)) · r_ff - Target        [graph frames]
//
// which is zita-a2j's "device position at the cycle start - frames read
// + resampler delay - target" with every term in one unit. If the ring is
// empty (start-up, or the producer stalled past the margin) R_s was never
// read; the controller then measures what the next frame written would get
// at the first cycle still to come.
//
// # The loop
//
// Ratio = smooth(r_ff · (1 - c)), where r_ff is the feed-forward from the
// clock filters and c the phase loop's correction: two one-pole smoothers
// at 8× the loop frequency, then PI with ζ = 1 at Config.Bandwidth
// (default 0.005 Hz). The plant is an integrator: a ratio off by ε moves
// the queue ε·GraphRate frames a second. smooth is two one-pole filters
// of 0.25 s with the ramp lag put back, so the clock filters' small
// per-interrupt updates never reach the resampler as steps (wow).
//
// Each clock filter is a three-state Kalman filter (time, rate, drift)
// over (timestamp, frame count): from a wide prior it is a least-squares
// fit over everything seen (the fastest unbiased lock: σ·sqrt(12/n)/T);
// then the process noise (Config.DriftRate) bounds its memory and its
// bandwidth follows the timestamp jitter it measures. Timestamps far
// outside the predicted spread (a stalled loop waking late) are not used.
//
// # Steps
//
// The first update with a sink cycle aligns the queue to the target at
// once (Output.Correction). While acquiring, an error of a frame or more
// that is well outside the estimate's uncertainty is stepped away too.
// Past Config.ResyncBound (default: half a graph period, so one skipped
// sink cycle trips it) a resync steps it away and is counted. After every
// step the loop waits until the reader has passed the frames written
// before it. Lost interrupts (count jumps) and skipped sink cycles (graph
// counter ahead of the read position) are counted in Stats.
package drift
