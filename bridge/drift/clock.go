package drift

import (
	"math"
	"slices"
)

// clock estimates one free-running sample clock from (time, frame count)
// pairs: when frame f completes, CLOCK_MONOTONIC reads t. It is a
// three-state Kalman filter (a delay-locked loop whose gains are computed
// instead of fixed) over
//
//	t(u) = tau + p·(u - u0) + a/2·(u - u0)²,  u = frames / nominal rate,
//
// so tau is the time (s, relative to base) of the newest frame position,
// p the clock's true seconds per nominal second (1 + offset) and a its drift
// per second (a ramp). Starting from a wide prior it behaves like a
// least-squares line fit over everything seen so far, the fastest unbiased
// lock; once the estimate is better than the clock's own wander allows, the
// jerk process noise q bounds the memory and the loop narrows into a
// tracking filter whose bandwidth follows the measured timestamp jitter:
// the more jitter, the longer it averages.
//
// Innovations are clipped to a few predicted standard deviations, so a
// timestamp far outside the spread (a stalled reader timestamping an
// interrupt late) counts no more than a plausible one: the filter never
// rejects and never restarts, unless a long one-signed run says the clock
// really moved.
//
// Clipping needs a state to clip against, and the first points are the
// state: one bad stamp among them (a grabber whose interrupt was pending
// when it was unmasked, so its first completion is stamped at start-up,
// a period late; a card that hands out buffered periods at once) would
// set the rate percent off, and every later innovation would then be
// clipped against that wrong line while the measured jitter grew to
// explain it: confident and wrong for minutes. So the first warmup
// points are held back and checked against each other first, by the
// median of their consecutive slopes and the median intercept (robust to
// up to three bad points of eight); a point off that line by more than
// warmupSigma robust deviations, and by more than warmupFloor, never
// reaches the filter.
type clock struct {
	nominal float64 // frames per nominal second
	base    int64   // ns; tau is relative to it
	frames  uint64  // frame position the state refers to
	tau     float64 // s
	p       float64 // s per nominal s
	a       float64 // 1/s
	j       float64 // 1/s², the drift's own rate of change
	P       [order][order]float64
	q       float64        // snap noise density: jerk random walk, 1/s⁵
	prior   [order]float64 // prior std of each state
	r       float64        // measurement noise variance, s²
	rMin    float64
	innov   float64 // running mean of squared innovations, s²
	n       int     // measurements used
	reject  int     // run of clipped innovations: > 0 late, < 0 early
	rejects uint64  // all clipped innovations
	resets  uint64  // starts over after a run of clipped innovations
	// The envelope: the innovations' low edge (see edge).
	blkMin float64            // least innovation in the block being filled
	blkPt  point              // its stamp
	blkN   int                // innovations in it
	mins   [floorBlocks]point // the last blocks' earliest stamps
	nmins  int                // blocks seen (mins is a ring)
	floor  float64            // s: the low edge relative to tau, smoothed
	nfloor int                // updates of floor
	// lateFrac is the share of recent stamps that are arrivals (late-only):
	// how much of floor the phase takes.
	lateFrac float64
	nlate    int
	// The hull: the last hullPoints stamps, and the slope of their lower
	// hull against the filter's curve (see hullSlope).
	pts    [hullPoints]point
	npts   int
	hidx   [hullPoints]int32
	hx, hr [hullPoints]float64
	dp     float64 // s per nominal s: the correction to the filter's rate, weighted
	dps    float64 // dp smoothed over hullSmooth stamps
	ndps   int
	hb     float64 // the hull's rate at the last block
	vh     float64 // variance of the hull's rate, from block to block
	nb     int     // blocks with a hull rate
	// warm holds the first points until they are checked (see above).
	warm    [warmup]point
	nwarm   int
	dropped uint64 // first points left out as inconsistent
}

// point is one (time, frame position) measurement.
type point struct {
	t int64
	f uint64
}

// order is the number of states: time, rate, drift, jerk.
const order = 4

const (
	warmup      = 8      // first points checked against each other
	warmupSigma = 5      // robust deviations off the first points' line
	warmupFloor = 250e-6 // s: and at least this far off, to be left out
)

// The envelope: blocks of floorBlock stamps, the last floorBlocks of them
// (5.5 s at 187.5 interrupts/s), the edge smoothed over floorSmooth
// stamps (1 s).
const (
	floorBlock  = 64
	floorBlocks = 16
	floorSmooth = 187
	lateWindow  = 256
	hullPoints  = 1024
	hullSmooth  = 187
)

const (
	clockPriorRate = 0.05 // prior std of p: the ratio clamp's range
	clipSigma      = 4    // innovations are clipped to this many sigmas
	clipRun        = 256  // this many clipped the same way in a row restart the filter
	innovWindow    = 1024 // measurements in the running jitter estimate
	innovStart     = 32   // measurements before the jitter is estimated
	rebaseSeconds  = 1e-3 // keep tau within this of base
	nsPerSecond    = 1e9  //
	secondsPerNs   = 1e-9 //
)

// init sets the filter up: q is the snap noise density, a0 and j0 the
// prior std of the drift and of the jerk, jitter the first guess of the
// timestamp noise (s RMS), rMin the least noise variance it will assume.
func (c *clock) init(nominal, q, a0, j0, jitter, rMin float64) {
	*c = clock{nominal: nominal, q: q, r: jitter * jitter, rMin: rMin}
	c.prior = [order]float64{jitter, clockPriorRate, a0, j0}
}

// restart forgets the state but keeps the configuration, counters and the
// learned jitter.
func (c *clock) restart() {
	c.n = 0
	c.blkN, c.nmins, c.floor, c.nfloor = 0, 0, 0, 0
	c.npts, c.dp, c.dps, c.ndps, c.vh, c.nb = 0, 0, 0, 0, 0, 0
	c.nwarm = 0
	c.reject = 0
	c.resets++
}

// valid reports whether the filter has seen enough to extrapolate.
func (c *clock) valid() bool { return c.n >= 2 }

// update feeds one measurement: frame position f completed at t ns. It
// reports whether the measurement was used (held back for the warm-up
// check counts as used).
func (c *clock) update(t int64, f uint64) bool {
	if c.n == 0 {
		if c.nwarm > 0 && f <= c.warm[c.nwarm-1].f { // a new stream
			c.nwarm = 0
		}
		c.warm[c.nwarm] = point{t, f}
		c.nwarm++
		// Until the check, extrapolate from the newest point at the
		// nominal rate (what one point says), as the filter's first
		// point does; valid() stays false.
		c.base, c.frames, c.tau, c.p, c.a, c.j = t, f, 0, 1, 0, 0
		if c.nwarm == warmup {
			c.nwarm = 0
			c.start()
		}
		return true
	}
	return c.feed(t, f)
}

// start checks the warm-up points against the line through their median
// consecutive slope and median intercept and feeds the filter those on it.
func (c *clock) start() {
	w := &c.warm
	var slope, icept, dev [warmup]float64
	u := func(i int) float64 { return float64(w[i].f-w[0].f) / c.nominal }
	s := func(i int) float64 { return float64(w[i].t-w[0].t) * secondsPerNs }
	for i := 0; i < warmup-1; i++ {
		slope[i] = (s(i+1) - s(i)) / (u(i+1) - u(i))
	}
	m := median(slope[:warmup-1])
	for i := range warmup {
		icept[i] = s(i) - m*u(i)
	}
	b := median(icept[:])
	for i := range warmup {
		dev[i] = math.Abs(s(i) - b - m*u(i))
	}
	sorted := dev
	lim := math.Max(warmupFloor, warmupSigma*1.4826*median(sorted[:]))
	for i := range warmup {
		if dev[i] > lim {
			c.dropped++
			continue
		}
		c.feed(w[i].t, w[i].f)
	}
}

// median returns the median of x, reordering it.
func median(x []float64) float64 {
	slices.Sort(x)
	n := len(x)
	if n%2 == 1 {
		return x[n/2]
	}
	return (x[n/2-1] + x[n/2]) / 2
}

// feed runs one measurement through the filter.
func (c *clock) feed(t int64, f uint64) bool {
	if c.n == 0 {
		c.base, c.frames = t, f
		c.tau, c.p, c.a, c.j = 0, 1, 0, 0
		c.P = [order][order]float64{}
		for i, s := range c.prior {
			c.P[i][i] = s * s
		}
		c.n = 1
		return true
	}
	if f < c.frames { // the count went back: a new stream
		c.restart()
		return c.update(t, f)
	}
	du := float64(f-c.frames) / c.nominal
	// Predict over du: x' = F x with F[i][k] = du^(k-i)/(k-i)! (a Taylor
	// step), P = F P Fᵀ + Q, Q the integrated white snap noise.
	var F [order][order]float64
	for i := 0; i < order; i++ {
		v := 1.0
		for k := i; k < order; k++ {
			F[i][k] = v
			v *= du / float64(k-i+1)
		}
	}
	x := [order]float64{c.tau, c.p, c.a, c.j}
	var xp [order]float64
	for i := 0; i < order; i++ {
		for k := i; k < order; k++ {
			xp[i] += F[i][k] * x[k]
		}
	}
	var pw [2 * order]float64 // du^m
	pw[0] = 1
	for m := 1; m < len(pw); m++ {
		pw[m] = pw[m-1] * du
	}
	fact := [order]float64{1, 1, 2, 6}
	var FP, P [order][order]float64
	for i := 0; i < order; i++ {
		for j := 0; j < order; j++ {
			for k := i; k < order; k++ {
				FP[i][j] += F[i][k] * c.P[k][j]
			}
		}
	}
	for i := 0; i < order; i++ {
		for j := 0; j < order; j++ {
			for k := j; k < order; k++ {
				P[i][j] += FP[i][k] * F[j][k]
			}
			// Q[i][j] = q du^m / ((n-1-i)! (n-1-j)! m), m = 2n-1-i-j.
			m := 2*order - 1 - i - j
			P[i][j] += c.q * pw[m] / (fact[order-1-i] * fact[order-1-j] * float64(m))
		}
	}
	tau := xp[0]
	z := float64(t-c.base) * secondsPerNs
	y := z - tau
	c.pts[c.npts%hullPoints] = point{t, f}
	c.npts++
	if c.nb > 2 {
		c.ndps++
		// Short while the clock is young (the correction shrinks fast as
		// the filter learns the rate), a second once it is not.
		k := hullSmooth
		if c.ndps < 10*hullSmooth {
			k = hullSmooth / 8
		}
		c.dps += (c.dp - c.dps) / float64(min(c.ndps, k))
	}
	if c.n >= innovStart {
		c.envelope(t, f, y)
	}
	S := P[0][0] + c.r
	// Robust update: an innovation beyond clipSigma standard deviations
	// (a loop that woke late after a stall, a preempted timestamp) is
	// used at that bound, with its sign. One bad timestamp then moves the
	// state no more than a plausible one would, nothing is thrown away and
	// the filter never starts over on its own. Only a long one-signed run
	// of clipped innovations means the clock itself moved (a new stream
	// whose count did not go back): then it measures afresh.
	if c.n > 8 {
		if lim := clipSigma * math.Sqrt(S); math.Abs(y) > lim {
			c.rejects++
			if y > 0 {
				c.reject = max(c.reject, 0) + 1
			} else {
				c.reject = min(c.reject, 0) - 1
			}
			if c.reject >= clipRun || -c.reject >= clipRun {
				c.restart()
				return c.update(t, f)
			}
			y = math.Copysign(lim, y)
		} else {
			c.reject = 0
		}
	}
	// Measurement noise: E[y²] = P00 + r, so average y² - P00 (y is
	// clipped already, so one late timestamp cannot inflate it). Only once
	// the state explains little of y²: early on P00 dwarfs r and the
	// difference is noise, so the configured guess holds until then.
	if c.n == innovStart {
		c.innov = c.r
	}
	if c.n >= innovStart {
		w := 1 / float64(min(c.n-innovStart+1, innovWindow))
		c.innov += w * (y*y - P[0][0] - c.innov)
		c.r = math.Max(c.rMin, c.innov)
		S = P[0][0] + c.r
	}
	var k [order]float64
	for i := range k {
		k[i] = P[i][0] / S
		xp[i] += k[i] * y
	}
	c.tau, c.p, c.a, c.j = xp[0], xp[1], xp[2], xp[3]
	r0 := P[0]
	for i := 0; i < order; i++ {
		for j := 0; j < order; j++ {
			P[i][j] -= k[i] * r0[j]
		}
	}
	// Symmetrise against rounding.
	for i := 0; i < order; i++ {
		for j := 0; j < i; j++ {
			P[i][j] = P[j][i]
		}
	}
	c.P = P
	c.frames = f
	c.n++
	if c.nmins > 0 && c.lateFrac > 0 {
		// A running mean, then a one-pole over floorSmooth stamps: the
		// edge's steps (a block minimum leaving the window) are spread
		// over a second, below what the phase loop passes. (A clock fed
		// no arrivals, the graph's, has no use for it.)
		c.nfloor++
		c.floor += (c.lowEdge() - c.floor) / float64(min(c.nfloor, floorSmooth))
	}
	if math.Abs(c.tau) > rebaseSeconds {
		shift := int64(c.tau * nsPerSecond)
		c.base += shift
		c.tau -= float64(shift) * secondsPerNs
	}
	return true
}

// envelope feeds one stamp to the low-edge estimate. A stamp is never
// early: the interrupt (or the wake-up that saw the data) comes at or
// after the completion, late by a latency that varies. The filter follows
// the stamps' mean, so its phase is late by the mean latency, a bias of
// whole frames at 1 ms of jitter; the stamps with the least latency mark
// the low edge. Each block of floorBlock stamps keeps its earliest (least
// innovation); the edge is the second least of the last floorBlocks of
// them (one early stamp, a clock read gone wrong, cannot set it), each
// measured against the newest state.
func (c *clock) envelope(t int64, f uint64, y float64) {
	if c.blkN == 0 || y < c.blkMin {
		c.blkMin, c.blkPt = y, point{t, f}
	}
	c.blkN++
	if c.blkN < floorBlock {
		return
	}
	c.blkN = 0
	c.mins[c.nmins%floorBlocks] = c.blkPt
	c.nmins++
	if c.lateFrac > 0 && c.npts >= 2*floorBlock {
		// The hull's rate against the filter's, weighted by how well each
		// is known: the filter's variance is P11; the hull's is measured
		// from one block's hull rate to the next (half the mean squared
		// difference). At 20 µs of latency the hull is known far better
		// and carries the rate; at 1 ms it scatters by ppm and the filter
		// keeps it.
		d := c.hullSlope()
		hb := c.p + d
		if c.nb > 0 {
			e := hb - c.hb
			c.vh += (e*e/2 - c.vh) / float64(min(c.nb, 4))
		}
		c.hb = hb
		c.nb++
		if vk := math.Max(c.P[1][1], 0); c.nb > 2 && vk+c.vh > 0 {
			c.dp = d * vk / (vk + c.vh)
		}
	}
}

// hullSlope measures the filter's rate error on the lower hull of the
// last hullPoints stamps, taken against the filter's own curve (which
// carries the drift, so the hull needs only a line): the supporting line
// that touches the hull at the stamps' mean position is the one that
// lies least above them all, and its slope is what the curve's rate
// misses. A least-squares rate over n stamps with latency spread J is
// off by about J·sqrt(12/n)/T; the hull's by about J/(n·T).
func (c *clock) hullSlope() float64 {
	n := min(c.npts, hullPoints)
	if n < 2*floorBlock {
		return 0
	}
	// Oldest first: the ring's order from npts-n.
	var mx float64
	for i := 0; i < n; i++ {
		p := c.pts[(c.npts-n+i)%hullPoints]
		c.hx[i] = float64(int64(p.f-c.frames)) / c.nominal
		c.hr[i] = c.residual(p)
		mx += c.hx[i]
	}
	mx /= float64(n)
	// Andrew's monotone chain, lower half; x increases with the count.
	h := 0
	for i := 0; i < n; i++ {
		for h >= 2 {
			a, b := c.hidx[h-2], c.hidx[h-1]
			cross := (c.hx[b]-c.hx[a])*(c.hr[i]-c.hr[a]) - (c.hr[b]-c.hr[a])*(c.hx[i]-c.hx[a])
			if cross > 0 {
				break
			}
			h--
		}
		c.hidx[h] = int32(i)
		h++
	}
	for k := 0; k+1 < h; k++ {
		a, b := c.hidx[k], c.hidx[k+1]
		if c.hx[b] >= mx {
			return (c.hr[b] - c.hr[a]) / (c.hx[b] - c.hx[a])
		}
	}
	return 0
}

// residual is how far stamp p sits after the filter's curve, s.
func (c *clock) residual(p point) float64 {
	return float64(p.t-c.base)*secondsPerNs - c.timeOf(float64(p.f))*secondsPerNs
}

// lowEdge is the edge's offset from tau, s (see envelope).
func (c *clock) lowEdge() float64 {
	n := min(c.nmins, floorBlocks)
	if n == 0 {
		return 0
	}
	lo, lo2 := math.Inf(1), math.Inf(1)
	for _, m := range c.mins[:n] {
		y := c.residual(m)
		if y < lo {
			lo, lo2 = y, lo
		} else if y < lo2 {
			lo2 = y
		}
	}
	if n < 3 {
		return lo
	}
	return lo2
}

// noteLate records whether the newest stamp was an arrival (late-only)
// or a bracket (unbiased), averaged over the last lateWindow stamps so
// that a source mixing the two moves the phase smoothly.
func (c *clock) noteLate(late bool) {
	v := 0.0
	if late {
		v = 1
	}
	c.nlate++
	c.lateFrac += (v - c.lateFrac) / float64(min(c.nlate, lateWindow))
}

// rate is the clock's seconds per nominal second: the filter's, corrected
// by the hull in the share of the stamps that are arrivals.
func (c *clock) rate() float64 { return c.p + c.lateFrac*c.dps }

// edge is the time (s, relative to base) the newest frame position was
// reached: tau moved to the stamps' low edge in the share of them that
// are arrivals, whose mean carries their latency.
func (c *clock) edge() float64 { return c.tau + c.lateFrac*c.floor }

// position returns the frame position (fractional) the clock had reached
// at t ns, by the estimated line through the newest state.
func (c *clock) position(t int64) float64 {
	dt := float64(t-c.base)*secondsPerNs - c.tau
	return float64(c.frames) + dt/c.p*c.nominal
}

// timeOf returns the time (ns, relative to base) at which frame position
// f is or was reached.
func (c *clock) timeOf(f float64) float64 {
	du := (f - float64(c.frames)) / c.nominal
	return (c.tau + c.p*du + c.a*du*du/2 + c.j*du*du*du/6) * nsPerSecond
}

// rateStd is the standard deviation of p, i.e. of the fractional rate.
func (c *clock) rateStd() float64 { return math.Sqrt(math.Max(c.P[1][1], 0)) }

// phaseStd is the standard deviation of the position estimate, in frames.
func (c *clock) phaseStd() float64 { return math.Sqrt(math.Max(c.P[0][0], 0)) / c.p * c.nominal }

// jitter is the measured timestamp noise, s RMS.
func (c *clock) jitter() float64 { return math.Sqrt(c.r) }
