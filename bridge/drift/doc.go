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
// time, as the graph clock's line puts it, see below) and R_s the ring
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
// Ratio = smooth(r_ff · (1 - c)) - trim, where r_ff is the feed-forward
// from the clock estimates, c the phase loop's correction and trim a
// one-off phase pulse. While acquiring c = 0 and the phase is held by
// whole-frame alignments; once locked c comes from PI with ζ = 1 behind
// two one-pole smoothers at 8× its frequency, started from zero so the
// ratio never steps. The plant is an integrator: a ratio off by ε moves
// the queue ε·GraphRate frames a second. The loop only trims what the
// feed-forward misses, so it can be narrow; its proportional path turns
// a phase error e (frames) into a ratio offset 2ω·e/GraphRate, so any
// wander the error carries reaches the ratio that way, and a wander of
// amplitude A frames at f < B moves the ratio by about 2π·f·A/GraphRate.
// The frequency is Config.Bandwidth (default 0.002 Hz: 0.05 ppm for the
// 0.1-frame device phase noise at 20 µs jitter), or narrower when the
// graph clock's published times wander: ω is held to
// wanderPPM·GraphRate/(2σ_w), σ_w being the RMS of the line residual's
// one-second means in frames, so that wander moves the ratio by at most
// 0.05 ppm (JACK's dummy driver: σ_w ≈ 10 µs = 0.5 frame, so ω ≈ 0.0024
// rad/s, B ≈ 0.0004 Hz). ω follows the measured σ_w with a 10 s time
// constant, and the integral is kept as the ratio correction it makes,
// so a change of ω never moves the ratio.
// smooth is two one-pole filters of 0.15 s with the ramp lag put back,
// so the clock filters' small per-interrupt updates never reach the
// resampler as steps (wow): period-to-period steps stay near 2e-4 ppm RMS
// and the ratio moves < 0.03 ppm within any 100 ms at 20 µs jitter.
//
// # The trim
//
// Alignments move the queue by whole frames, so up to half a frame is
// left after each, and the feed-forward's early error drifts the phase
// while acquiring: at lock the error is anywhere within ±1 frame. A loop
// narrow enough for tracking would take minutes over that, at a ratio
// off by 2ω·e/GraphRate all along (0.26 ppm for half a frame at 0.002
// Hz): a recorded sine off its frequency for minutes. So at lock (if
// |e| ≥ 0.1 frame), and after every step once the reader has passed it,
// the controller removes e at once with a raised-cosine ratio pulse over
// 20 device periods (107 ms at 256/48 kHz; 195 ppm peak for half a
// frame, a third of a cent), then holds the loop until the trimmed frames
// have been read (the error is measured at the reader, a queue later).
//
// # The graph clock
//
// The sink's cycle times come from the server's DLL. The frame counter is
// exact and the graph clock is a stable crystal (or the system clock
// behind a dummy driver), but the published times wander at low
// frequency: JACK's dummy driver at 48 kHz/256 wanders 10-15 µs RMS
// around its line with a correlation of about a second, a late wake-up
// steps it by 50 µs that decay over a second or two, and for the first
// two seconds of a server's life its DLL is still converging (the times
// sit ~90 µs off their later line). A clock filter with a memory of
// seconds turns that into ppm of rate (5 s chunks of the trace measure
// -14.7 .. +3.7 ppm). So once the graph counter is past 2.5 s the graph
// clock is a least-squares line over all cycle times of the last 120 s
// (pooled 0.25 s blocks, centred sums, so a day loses no precision): its
// rate error falls as σ_w·sqrt(12/T³) for one-second-correlated wander
// over a span T, ~0.1 ppm after a minute. Samples more than 8 σ off are
// garbage and left out; 64 of them in a row (a third of a second) mean
// the times stepped (a server whose DLL restarted after a long stall, a
// driver that re-anchored its time): the line starts over 2 s later, the
// sink filter measures afresh and the controller acquires again
// (TestSinkTimeStep). Until the line spans half a second the
// Kalman filter below stands in (a server that has run a while).
// Once locked, the graph rate in the feed-forward glides to the line's
// newest estimate at no more than 2 ppm/s at a 3 s span, falling as
// T^-2.5 (the pace at which a line's error shrinks) to 0.2 ppm/s: a
// sine whose frequency glides at ρ ppm/s leaves a quadratic phase that a
// 100 ms fit misses by about π·f·ρ·T²/13, -113 dB at 1 kHz for 1 ppm/s
// and -127 dB for 0.2, while a late wake-up moves a young line's rate by
// ppm within a second.
// Physics sets what this buys right after a server starts: at 10 s the
// line is known to a few ppm and the phase error that integrates to
// (~a frame by 10 s) is in the queue; a recording 10 s after a fresh
// server starts is off by ~0.2-0.3 ppm on the trace in testdata.
//
// A sink that also gives each cycle's raw wake-up (Sink.Wake: JACK's,
// under jackd2) is measured from those instead. A wake-up is late after
// the cycle's true start by a latency that is never negative, so the
// line is then the lower hull of the wake-ups (the earliest of each
// 0.25 s block), its edge across the samples' mean the rate and the
// phase: no DLL to settle, so it starts at the first cycle, and on a
// server younger than 10 s it locks at a 9.5 s span, not before: a rate
// off by ε at lock leaves the queue ε²/(2·0.2 ppm/s) off once the glide
// is over, and the glide is in whatever is recorded meanwhile (a 3 s
// hull was still up to 34 ppm off on this VM). Its own statistics do not
// lock it earlier: they see the wake-ups' scatter, not the slow wander of
// their least latency, tens of µs over seconds on this VM, which moved
// one server's hull from +0.8 ppm at 5 s to -5.0 from 6 to 8 s and -1.1
// at 10 s (truth 0). TestReplayYoungJACK replays six such servers' wake-
// ups (testdata) through the whole controller and judges a recording
// from 10 to 40 s: locking on the statistics (at 7 s on one trace) left
// it up to 1.57 ppm off and the queue 5.4 frames off its target; at an
// 8.5 s span 1.40 ppm and 3.8 frames; at 9.5 s 0.43 ppm and 1.03 frames.
// The glide's pace after that lock falls as if the line had locked at
// 4.5 s (slewSpanEdge), 0.27 ppm/s at 10 s: tied to the lock itself it
// was 1.3 ppm/s at 10 s and the recordings' worst windows fell to -110
// dB; at 5.5 s, 0.4 ppm/s at 10.8 s and -117.5 dB.
//
// The device clock (and the graph clock for its first seconds) is a
// four-state Kalman filter (time, rate, drift,
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
// the innovations, so the bandwidth narrows as the jitter grows. At 0-1
// ms of interrupt latency (289 µs RMS) the filter alone leaves 0.43-0.48
// ppm RMS of ratio error with the loop: physics, for a clock allowed to
// drift 5 ppm/min, fed stamps whose mean is all it uses; the lower hull
// below knows more.
//
// The filter follows the stamps' mean, but a stamp is never early: the
// interrupt, or the wake-up that saw the data, comes at or after the
// completion, late by a latency that varies. Its mean is a bias of the
// device phase, so of the latency: 0.7 frame at 20 µs RMS of interrupt
// latency, 24 frames at 0-1 ms. So the phase is taken from the stamps'
// lower edge instead: each block of 64 stamps keeps its earliest, and the
// edge is the second least of the last 16 of them (5.5 s) measured
// against the newest state (so one early stamp cannot set it), smoothed
// over a second. The latency is then exact to the least latency the
// hardware has, a few µs (TestClockEdge; delay 0.02-0.06 frame RMS in
// the simulation, against 1.65 frames off with the mean).
// The rate is measured on the arrivals' lower edge too. The earliest
// stamp of each group of 8 among the last 4096 (21.8 s) is taken against
// the filter's curve (which carries the drift, so a line is all that is
// left to find), and the supporting line of their lower hull at their
// mean position, the line lying least above them all, has a slope the
// curve misses there. A least-squares rate over n stamps with latency
// spread σ is off by about σ·sqrt(12/n)/T; the hull's by about
// 8/(n·f0·T), f0 the latency's density at its least, which the hull
// reads from how close the nearest stamps lie above its line: 0.006 ppm
// at 20 µs, 0.07 ppm at 0-1 ms. Every 64 stamps that slope goes into the
// filter as a measurement of the rate 11 s back, and the slope between
// the hulls of the window's two halves as one of the drift: the rate now
// is the rate then plus the drift over those 11 s, and the filter's own
// least-squares drift, levered over them, would be off ten times more
// than the hull at 20 µs. Successive hulls share all but 64 of their
// stamps, so each update's variance is spread over the updates that
// share its window; a vertex whose removal moves the slope by eight
// times its scatter (an early stamp, a clock read gone wrong) is left
// out. In the simulation this halves the ratio jitter at 20 µs of
// latency (0.021-0.023 ppm RMS, against 0.051-0.056 from a hull that only
// corrected the rate and 0.070-0.087 from the filter alone) and quarters
// it at 0-1 ms (0.10-0.11, against 0.40); lock to 1 ppm from ±200 ppm at
// 20 µs takes 2.9 s median, 4.2 s at the 90th percentile (4.0 and 5.5 s
// from the filter alone).
// How long the filter may remember is a property of the clock, which
// DriftRate can only bound: a crystal that drifts 5 ppm/min needs the
// memory above, a steady one is measured better by ten times longer. So
// a second filter with a hundredth of the process noise (slowQ) runs on
// the same stamps, and each filter's curve is held against the hull
// every block: the mean square by which the hull's rate misses it over
// the last 64 blocks (22 s). A slow filter that lags a drift misses by
// 10 to 70 times the fast one's, a steady one's miss is the same within
// 0.65-1.3 (over an hour at 0-1 ms). The feed-forward takes the slow
// filter's rate and drift while its miss is under 1.5 times the fast
// one's, the fast filter's above 3, and blends between; the slow share
// falls within 2 s (at once, the rate would step by the filters'
// difference) and grows back over 30 s, so a ramp's turn, where the
// lagging filter is briefly right, does not bring it back. Only while
// most stamps are arrivals: brackets have no edge to hull, and trusting
// the hull of a few arrivals among them made the share come and go and
// put windows at -108 dB into the UIO sine through PipeWire. The phase
// stays the fast filter's edge; Stats.LongMemory shows the share. In the simulation the ratio error falls
// from 0.10-0.11 to 0.063-0.067 ppm RMS at 0-1 ms and from 0.021-0.023
// to 0.010-0.019 at 20 µs; ramps cost 0.00-0.005 ppm RMS more than the
// fast filter alone gives, and a drift that starts at 5 ppm/min at once
// costs nothing measurable at 20 µs (TestSimRampStarts: 0.80-0.86 ppm at
// worst, where keeping the slow filter gives 1.9). The second filter
// makes an update 35 % dearer (BenchmarkUpdate: 1.41 to 1.90 µs).
// Only stamps that are arrivals (Input.Late) move the phase and the rate
// this way, in the share of them among the last 256: a bracket of looks
// at the device is as likely a little early as late, and its mean is
// right (had symmetric stamps been taken as arrivals, the edge would sit
// about 2.9σ early).
//
// Innovations are clipped at four predicted standard deviations rather
// than rejected: a loop that wakes 100 ms late after a stall moves the
// state no more than a plausible timestamp would, and the filter never
// restarts (only a run of 256 clipped innovations of one sign, a clock
// that really jumped, makes it measure afresh).
// Clipping needs a state, and the first points are the state: so the
// first eight are held back and checked against each other (median of
// consecutive slopes, median intercept); a stamp off their line (a
// grabber whose first interrupt was pending at unmask and is stamped a
// period late) never reaches the filter, which would otherwise hold a
// rate percent off, confidently, for minutes (TestClockRecovers...).
//
// # Steps
//
// The first update with a sink cycle aligns the queue to the target at
// once (Output.Correction). While acquiring, an error of a frame or more
// that is well outside the estimate's uncertainty is stepped away too.
// Acquiring ends (Locked) when the graph clock's line is in use and the
// ratio's standard error is below Config.LockPPM (default 1 ppm, the
// issue's lock), has stopped shrinking (high jitter), or the line spans
// 3 s: a graph clock wandering by tens of µs is known to 1 ppm only
// after ten seconds or more, but the steps and the trim of acquiring
// must be over before anyone listens.
// Past Config.ResyncBound (default: half a graph period, so one skipped
// sink cycle trips it) a resync steps it away and is counted; so does any
// error of a frame or more right after the sink read less than a cycle
// (an underrun), since the queue moved in one step then. After every
// step the loop waits until the reader has passed the frames written
// before it. Lost interrupts (count jumps) and skipped sink cycles (graph
// counter ahead of the read position) are counted in Stats.
package drift
