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
// restarts, unless a long one-signed run says the clock really moved. A
// bracket (a stamp as likely early as late, µs wide) that comes later
// than noise ever does (skipSigma) is left out instead: the device itself
// was late that once (an emulator whose host took its CPU), and even
// clipped, 2 % of such stamps doubled the ratio's noise
// (TestSimLateBrackets). So is an arrival among brackets (mixedLate).
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
	// kind says what the stamp being updated is, when the caller knows
	// (the device clock): a bracket's late outliers are left out instead
	// of clipped, and so are arrivals among brackets.
	kind    stampKind
	rejects uint64 // all clipped innovations
	resets  uint64 // starts over after a run of clipped innovations
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
	// The hull: the earliest stamp of each group of hullGroup among the
	// last hullPoints, and their lower hull against the filter's curve
	// (see hullLine); nil for a clock fed no arrivals.
	hull    *hullStore
	npts    int     // stamps taken into groups
	ncand   int     // groups completed (hull.pts is a ring of them)
	gMin    float64 // least innovation in the group being filled
	gPt     point   // its stamp
	earlies uint64  // hull vertices left out as outliers
	hullDue bool    // a block is complete: measure the hull after this update
	hb      float64 // the hull's rate at the last block
	vh      float64 // variance of the hull's rate, from block to block
	nb      int     // blocks with a hull rate
	fit     float64 // mean square of the hull's rate against the curve, over fitBlocks
	nfit    int
	// rateOnly: only the rate and the drift are used (no edge, so no
	// floor to keep).
	rateOnly bool
	// warm holds the first points until they are checked (see above).
	warm    [warmup]point
	nwarm   int
	dropped uint64 // first points left out as inconsistent
}

// hullStore is the hull's working memory, 36 KB: allocated once, by
// New, for each clock that takes arrivals, and kept across Reset (which
// Update calls when the device's count starts over).
type hullStore struct {
	pts    [hullCands]point
	idx    [hullCands]int32
	hx, hr [hullCands]float64
}

// point is one (time, frame position) measurement.
type point struct {
	t int64
	f uint64
}

// order is the number of states: time, rate, drift, jerk.
const order = 4

// qCoef is the integrated white snap noise over a step du:
// Q[i][j] = q du^m qCoef[i][j], qCoef = 1 / ((n-1-i)! (n-1-j)! m),
// m = 2n-1-i-j.
var qCoef = [order][order]float64{
	{1. / 252, 1. / 72, 1. / 30, 1. / 24},
	{1. / 72, 1. / 20, 1. / 8, 1. / 6},
	{1. / 30, 1. / 8, 1. / 3, 1. / 2},
	{1. / 24, 1. / 6, 1. / 2, 1},
}

const (
	warmup      = 8      // first points checked against each other
	warmupSigma = 5      // robust deviations off the first points' line
	warmupFloor = 250e-6 // s: and at least this far off, to be left out
)

// The envelope: blocks of floorBlock stamps, the last floorBlocks of them
// (5.5 s at 187.5 interrupts/s), the edge smoothed over floorSmooth
// stamps (1 s); the hull over the last hullPoints stamps (21.8 s).
const (
	floorBlock  = 64
	floorBlocks = 16
	floorSmooth = 187
	lateWindow  = 256
	hullPoints  = 4096
	hullGroup   = 8
	hullCands   = hullPoints / hullGroup
	hullOutlier = 8    // a hull vertex that moves the slope this many sigmas is an outlier
	hullSplit   = 1024 // stamps before the hull's halves measure the drift
	hullNear    = 16   // stamps nearest the hull's line that measure the edge's density
	fitBlocks   = 64   // hull blocks (22 s) in fit's running mean
	hullScatter = 8    // the hull's slope error in units of 1/(n·f0·W), measured
)

const (
	clockPriorRate = 0.05 // prior std of p: the ratio clamp's range
	clipSigma      = 4    // innovations are clipped to this many sigmas
	mixedLate      = 0.5  // below this share of arrivals, arrivals among brackets are left out
	skipSigma      = 8    // a bracket this many sigmas late is left out (never for noise: symmetric noise stays symmetric)
	clipRun        = 256  // this many clipped the same way in a row restart the filter
	innovWindow    = 1024 // measurements in the running jitter estimate
	innovStart     = 32   // measurements before the jitter is estimated
	rebaseSeconds  = 1e-3 // keep tau within this of base
	nsPerSecond    = 1e9  //
	secondsPerNs   = 1e-9 //
)

// stampKind is what a clock's stamp is, as far as the caller knows.
type stampKind uint8

const (
	unknownStamp stampKind = iota // no more is known: every stamp counts alike
	bracket                       // as likely early as late (Input.Late false)
	arrival                       // late by a latency that varies (Input.Late)
)

// init sets the filter up: q is the snap noise density, a0 and j0 the
// prior std of the drift and of the jerk, jitter the first guess of the
// timestamp noise (s RMS), rMin the least noise variance it will assume;
// hull is the working memory for a clock whose stamps may be arrivals
// (see noteLate), nil for one that takes none.
func (c *clock) init(nominal, q, a0, j0, jitter, rMin float64, hull *hullStore) {
	*c = clock{nominal: nominal, q: q, r: jitter * jitter, rMin: rMin, hull: hull}
	c.prior = [order]float64{jitter, clockPriorRate, a0, j0}
}

// restart forgets the state but keeps the configuration, counters and the
// learned jitter.
func (c *clock) restart() {
	c.n = 0
	c.blkN, c.nmins, c.floor, c.nfloor = 0, 0, 0, 0
	c.npts, c.ncand, c.vh, c.nb, c.hullDue = 0, 0, 0, 0, false
	c.fit, c.nfit = 0, 0
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
	var FP, P [order][order]float64
	for i := 0; i < order; i++ {
		for j := 0; j < order; j++ {
			for k := i; k < order; k++ {
				FP[i][j] += F[i][k] * c.P[k][j]
			}
		}
	}
	// P is symmetric: the upper triangle, then its mirror (the update
	// below runs once per stamp, for two clocks).
	for i := 0; i < order; i++ {
		for j := i; j < order; j++ {
			for k := j; k < order; k++ {
				P[i][j] += FP[i][k] * F[j][k]
			}
			P[i][j] += c.q * pw[2*order-1-i-j] * qCoef[i][j]
			P[j][i] = P[i][j]
		}
	}
	tau := xp[0]
	z := float64(t-c.base) * secondsPerNs
	y := z - tau
	if c.hull != nil {
		// Only a group's earliest stamp can be a vertex of the hull,
		// unless another one in it lies within the hull line's tilt
		// across the group (a ppm over 43 ms: 0.04 µs) of it.
		if c.npts%hullGroup == 0 || y < c.gMin {
			c.gMin, c.gPt = y, point{t, f}
		}
		c.npts++
		if c.npts%hullGroup == 0 {
			c.hull.pts[c.ncand%hullCands] = c.gPt
			c.ncand++
		}
	}
	if c.n >= innovStart {
		c.envelope(t, f, y)
	}
	if c.kind == arrival && c.n > 8 && c.lateFrac < mixedLate {
		// An arrival among brackets (a register watch that lost hold for
		// a few completions): late by a wake-up latency of 100 µs or so,
		// against brackets a µs wide. It says next to nothing the
		// brackets around it do not, and a burst of them, each clipped
		// to a few of the brackets' sigmas, reads as a change of rate.
		return true
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
			if c.kind == bracket && y > skipSigma*math.Sqrt(S) {
				return true
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
	if c.hullDue {
		c.hullDue = false
		c.hullUpdate()
	}
	if c.nmins > 0 && c.lateFrac > 0 && !c.rateOnly {
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
	c.hullDue = c.hull != nil && c.lateFrac > 0 && c.npts >= 2*floorBlock
}

// hullUpdate measures the filter's curve against the stamps' lower hull
// (see hullLine) and feeds what it finds to the filter as measurements:
// the clock's rate at the hull's mean position xc, in the past,
// H = (0, 1, xc, xc²/2); and, from the hulls of the older and the newer
// half, how the rate changed between their mean positions, which is the
// drift, H = (0, 0, 1, (x1+x2)/2). The rate now is the rate at xc plus
// the drift times -xc: without the second the drift would be the
// least-squares filter's, whose error, levered over the eleven seconds
// back to xc, outweighs the hull's own by ten at 20 µs of latency.
//
// Each variance is the hull's expected scatter (hullLine), raised by half
// the squared step of the full hull's rate from the last block if that
// is larger (an early stamp entering or leaving the window), and spread
// over the blocks that share the window: successive hulls share all but
// floorBlock of their stamps and their errors with them, so a window's
// worth of updates together carries one hull's information (while the
// window grows, four times as much). Stamps that are not all arrivals
// weigh less, in their share.
func (c *clock) hullUpdate() {
	n := c.hullLoad()
	stamps := n * hullGroup // what the candidates stand for
	d, sd, xc, va, vb := c.hullLine(0, n)
	// A stamp far earlier than the rest (a clock read gone wrong) would
	// hold the hull for the whole window: a vertex whose removal moves
	// the slope by more than hullOutlier of its expected scatter is left
	// out, twice at most.
	for range 2 {
		out := false
		for _, v := range [2]int{va, vb} {
			if v < 0 || sd <= 0 {
				continue
			}
			r := c.hull.hr[v]
			c.hull.hr[v] = math.Inf(1)
			d2, sd2, xc2, va2, vb2 := c.hullLine(0, n)
			if sd2 > 0 && math.Abs(d2-d) > hullOutlier*math.Max(sd, sd2) {
				d, sd, xc, va, vb = d2, sd2, xc2, va2, vb2
				c.earlies++
				out = true
				break
			}
			c.hull.hr[v] = r
		}
		if !out {
			break
		}
	}
	hb := c.p + c.a*xc + c.j*xc*xc/2 + d // the hull's own rate at xc
	if c.nb > 0 {
		e := hb - c.hb
		c.vh += (e*e/2 - c.vh) / float64(min(c.nb, 4))
	}
	c.hb = hb
	c.nb++
	if c.nb <= 2 || sd <= 0 {
		return
	}
	c.nfit++
	c.fit += (d*d - c.fit) / float64(min(c.nfit, fitBlocks))
	inflate := math.Max(1, c.vh/(sd*sd)) * float64(stamps) / floorBlock / (c.lateFrac * c.lateFrac)
	if c.npts < hullPoints {
		// A growing window gains more than it shares: its hull's
		// information grows as n⁴ (error ∝ 1/n²), so floorBlock more
		// stamps add 4·floorBlock/n of it.
		inflate /= 4
	}
	c.measure([order]float64{0, 1, xc, xc * xc / 2}, d, sd*sd*inflate)
	if stamps < hullSplit {
		return
	}
	d1, sd1, x1, _, _ := c.hullLine(0, n/2)
	d2, sd2, x2, _, _ := c.hullLine(n/2, n)
	if sd1 <= 0 || sd2 <= 0 {
		return
	}
	dx := x2 - x1
	c.measure([order]float64{0, 0, 1, (x1 + x2) / 2}, (d2-d1)/dx, (sd1*sd1+sd2*sd2)/(dx*dx)*inflate)
}

// measure is the filter's update by one scalar measurement y of H·x
// (relative to the state: y is the innovation) with variance R.
func (c *clock) measure(H [order]float64, y, R float64) {
	var PH [order]float64
	for i := range order {
		for k := range order {
			PH[i] += c.P[i][k] * H[k]
		}
	}
	S := R
	for i := range order {
		S += H[i] * PH[i]
	}
	c.tau += PH[0] / S * y
	c.p += PH[1] / S * y
	c.a += PH[2] / S * y
	c.j += PH[3] / S * y
	for i := range order {
		for k := range order {
			c.P[i][k] -= PH[i] * PH[k] / S
		}
	}
}

// hullLoad takes the candidates of the last hullPoints stamps (or as
// many as there are), oldest first, against the filter's curve: hx the
// time of each relative to the newest position, hr how far it sits after
// the curve. It returns how many.
func (c *clock) hullLoad() int {
	hs := c.hull
	n := min(c.ncand, hullCands)
	for i := 0; i < n; i++ {
		p := hs.pts[(c.ncand-n+i)%hullCands]
		hs.hx[i] = float64(int64(p.f-c.frames)) / c.nominal
		hs.hr[i] = c.residual(p)
	}
	return n
}

// hullLine measures the filter's rate error on the lower hull of the
// loaded stamps lo..hi-1, taken against the filter's own curve (which
// carries the drift, so the hull needs only a line): the supporting line
// that touches the hull at the stamps' mean position mean (s, relative to
// the newest) is the one that lies least above them all, and its slope is
// what the curve's rate misses there. A least-squares rate over n stamps
// with latency spread J is off by about J·sqrt(12/n)/T; the hull's by
// about J/(n·T), and std says how much from the stamps themselves.
func (c *clock) hullLine(lo, hi int) (slope, std, mean float64, va, vb int) {
	hs := c.hull
	n := hi - lo
	var mx float64
	for i := lo; i < hi; i++ {
		mx += hs.hx[i]
	}
	mx /= float64(n)
	// x increases with the count; a +Inf residual is a vertex left out
	// (see hullUpdate).
	if a, b, ok := lowerEdge(hs.hx[:], hs.hr[:], lo, hi, mx, hs.idx[:]); ok {
		slope = (hs.hr[b] - hs.hr[a]) / (hs.hx[b] - hs.hx[a])
		// How well the line is known follows from how densely the
		// stamps crowd the edge: with latency density f0 at the least
		// latency, the m-th nearest stamp above the line sits about
		// m/(n·f0) above it, and the slope is off by about
		// hullScatter/(n·f0·W) over a window of W seconds
		// (hullScatter measured for uniform, exponential and
		// half-normal latency, n from 512 to 4096).
		var near [hullNear]float64
		for i := range near {
			near[i] = math.Inf(1)
		}
		for i := lo; i < hi; i++ {
			d := hs.hr[i] - hs.hr[a] - slope*(hs.hx[i]-hs.hx[a])
			if d >= near[hullNear-1] {
				continue
			}
			j := hullNear - 1
			for ; j > 0 && near[j-1] > d; j-- {
				near[j] = near[j-1]
			}
			near[j] = d
		}
		w := hs.hx[hi-1] - hs.hx[lo]
		return slope, hullScatter * near[hullNear-1] / (hullNear * w), mx, a, b
	}
	return 0, 0, mx, -1, -1
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
