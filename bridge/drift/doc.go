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
// clock filters and c the phase loop's correction. While acquiring c = 0
// and the phase is held by whole-frame alignments; once locked c comes
// from PI with ζ = 1 at Config.Bandwidth (default 0.002 Hz) behind two
// one-pole smoothers at 8× that frequency, started from zero so the ratio
// never steps. The plant is an integrator: a ratio off by ε moves the
// queue ε·GraphRate frames a second. The loop only trims what the
// feed-forward misses, so it can be this narrow; every Hz of it lets the
// device phase estimate's noise into the ratio (2ω·σ_e/GraphRate).
// smooth is two one-pole filters of 0.25 s with the ramp lag put back,
// so the clock filters' small per-interrupt updates never reach the
// resampler as steps (wow): period-to-period steps stay near 2e-4 ppm RMS
// and the ratio moves < 0.03 ppm within any 100 ms at 20 µs jitter.
//
// Each clock filter is a four-state Kalman filter (time, rate, drift,
// jerk) over (timestamp, frame count), driven by white snap noise whose
// density follows Config.DriftRate. From a wide prior on the rate (tight
// ones on drift and jerk) it behaves as a least-squares line over
// everything seen, the fastest unbiased lock: the rate's standard error
// after T seconds of n interrupts with jitter σ is σ·sqrt(12/n)/T, 0.45
// ppm at 5 s for 20 µs and 187.5 interrupts/s (so 1 ppm at 5 s is a
// two-sigma bound), 23 ppm at 1 ms. Then the process noise bounds its
// memory: carrying drift and jerk lets it follow 5 ppm/min ramps that
// turn smoothly while averaging ~30 s (rate error ~0.08 ppm RMS at 20 µs;
// a three-state filter must choose between lagging the turns and
// averaging less, ~0.12 at best). The measurement noise is measured from
// the innovations, so the bandwidth narrows as the jitter grows. At 1 ms
// the same filters reach ~0.7-0.9 ppm RMS of rate noise (1.1-1.2 ppm of
// ratio error with the loop) and ~1.3 samples RMS of delay noise (the device phase known to ~15 µs): physics, for a
// clock allowed to drift 5 ppm/min; a smaller DriftRate averages longer.
//
// Innovations are clipped at four predicted standard deviations rather
// than rejected: a loop that wakes 100 ms late after a stall moves the
// state no more than a plausible timestamp would, and the filter never
// restarts (only a run of 256 clipped innovations of one sign, a clock
// that really jumped, makes it measure afresh).
//
// # Steps
//
// The first update with a sink cycle aligns the queue to the target at
// once (Output.Correction). While acquiring, an error of a frame or more
// that is well outside the estimate's uncertainty is stepped away too.
// Acquiring ends (Locked) when the ratio's standard error is below
// Config.LockPPM or has stopped shrinking (high jitter).
// Past Config.ResyncBound (default: half a graph period, so one skipped
// sink cycle trips it) a resync steps it away and is counted; so does any
// error of a frame or more right after the sink read less than a cycle
// (an underrun), since the queue moved in one step then. After every
// step the loop waits until the reader has passed the frames written
// before it. Lost interrupts (count jumps) and skipped sink cycles (graph
// counter ahead of the read position) are counted in Stats.
package drift
