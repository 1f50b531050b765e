package drift

import "math"

// line estimates the graph clock as what it is: a stable crystal (or the
// system clock behind a dummy driver) whose frame counter is exact, seen
// through cycle times that the server's DLL has filtered. Those times
// wander at low frequency (tens of µs over seconds: wake-up latency that
// the DLL passes below its bandwidth, and a step and a one-second decay
// after every late wake-up), so any filter with a memory of seconds turns
// the wander into ppm of rate. A least-squares line over everything seen
// in the last lineSpan seconds averages it instead: its slope error falls
// as σ·sqrt(12·τc/T)/T for wander σ with correlation time τc over a span
// T, 0.1 ppm at T = 60 s for the JACK dummy driver's σ ≈ 10 µs, τc ≈ 1 s.
//
// Samples are summed in blocks of lineBlock seconds (count, means and
// centred second moments, so nothing loses precision over a day) kept in
// a fixed ring; the fit pools the blocks. Samples more than lineReject
// residual standard deviations off the line (a DLL step after a late
// wake-up) are left out.
//
// Fed raw wake-ups instead (edge), the line is the lower hull of the
// samples: a wake-up is late by a latency that is never negative, so the
// earliest ones trace the cycles' true starts. The hull's slope where the
// samples' mean lies is the rate, and the hull there is the phase. On a
// jackd whose DLL-filtered times read 9 to 20 ppm off at 5 s (the DLL
// settling from its first wake-up), the wake-ups' hull read 0.5 to 11 ppm
// off, and 0.2 to 2.2 ppm at 10 s against 0.2 to 7 (four runs,
// scripts/jack-clock.sh). The least-squares sums are kept for the
// residual statistics and the rejection test, which need a centre line.
type line struct {
	nominal float64 // frames per nominal second
	base    int64   // ns; times are relative to it
	f0      uint64  // frame position of u = 0
	blk     [lineBlocks]block
	head, n int   // newest block, blocks in use
	pool    block // the blocks before head, pooled when head moves on
	// Fit, pooled over the blocks.
	fitN, mu, my, slope, cuu, s2, span float64
	// sb2: the residual variance as the block means see it, times the
	// samples in a block: s2 if the residuals are white, up to a block's
	// count times s2 if they wander over a block or longer.
	sb2 float64
	// sg2: the variance of the residual means over lineGroup blocks
	// (one second): the wander a phase loop sees at a second and slower.
	sg2       float64
	rejectRun int
	// restarts counts the times the line started over because the
	// published times stepped away from it; after one, samples before
	// graph position settleUntil are not used (the server's DLL settles).
	restarts    uint64
	settleUntil uint64
	rejects     uint64
	// edge: the samples are arrivals and the line is their lower hull
	// (hullOK once it has an edge across the mean: hSlope, hY at mu).
	edge       bool
	hullOK     bool
	hSlope, hY float64
	// Scratch for fitHull: the blocks' earliest samples, oldest first,
	// and the hull's vertices.
	minU, minY [lineBlocks]float64
	hullIdx    [lineBlocks]int32
}

// block holds one lineBlock of samples: u (nominal seconds since f0) and
// y (seconds since base, minus u).
type block struct {
	n, mu, my, cuu, cuy, cyy float64
	u0                       float64
	minU, minY               float64 // the earliest sample (edge lines)
}

const (
	lineBlock    = 0.25 // s per block
	lineBlocks   = 480  // blocks in the ring: lineSpan = 120 s
	lineReject   = 8    // residual standard deviations that leave a sample out
	lineRunMax   = 64   // rejections in a row (0.34 s at 48 kHz/256) that mean the times stepped: start over
	lineResettle = 2.0  // s of graph frames not used after such a step
	lineGroup    = 4    // blocks per wander group (one second)
	lineMinN     = 32   // samples before the line is used
	lineMinSpan  = 0.5  // s of span before the line is used
	lineFloor    = 1e-6 // s: least residual RMS assumed (µs-quantised times)
)

func (l *line) init(nominal float64) { *l = line{nominal: nominal} }

func (l *line) restart() {
	*l = line{nominal: l.nominal, rejects: l.rejects, restarts: l.restarts}
}

// addArrival feeds one cycle as a raw wake-up at t ns, late after graph
// frame position f's true start by a latency that is never negative.
func (l *line) addArrival(t int64, f uint64) { l.feed(t, f, true) }

// add feeds one cycle: graph frame position f started at t ns, as a
// server's filter published it.
func (l *line) add(t int64, f uint64) { l.feed(t, f, false) }

// valid reports whether the fit can be used.
func (l *line) valid() bool { return l.fitN >= lineMinN && l.span >= lineMinSpan }

func (l *line) feed(t int64, f uint64, edge bool) {
	if f < l.settleUntil {
		return
	}
	empty := l.n == 0 && l.blk[l.head].n == 0
	if !empty && edge != l.edge {
		// The sink changed what it gives: one line is one kind.
		l.restart()
		empty = true
	}
	if empty {
		l.base, l.f0, l.edge = t, f, edge
	}
	if f < l.f0 {
		l.restart()
		l.feed(t, f, edge)
		return
	}
	u := float64(f-l.f0) / l.nominal
	y := float64(t-l.base)*secondsPerNs - u
	if l.valid() {
		// The spread of a sample about the line, plus the line's own
		// uncertainty there: early on the extrapolation is the larger.
		d := u - l.mu
		sd := math.Sqrt(math.Max(l.s2, lineFloor*lineFloor) + l.v()*(1/l.fitN+d*d/l.cuu))
		if math.Abs(y-l.centre(u)) > lineReject*sd {
			l.rejects++
			l.rejectRun++
			if l.rejectRun >= lineRunMax {
				// The published times stepped (a server whose DLL
				// restarted after a long stall, a driver that re-anchored
				// its time): measure afresh once the DLL has settled.
				l.restart()
				l.restarts++
				if !edge {
					l.settleUntil = f + uint64(lineResettle*l.nominal)
				}
			}
			return
		}
	}
	l.rejectRun = 0
	b := &l.blk[l.head]
	if l.n == 0 || u-b.u0 >= lineBlock {
		if l.n > 0 {
			l.head = (l.head + 1) % lineBlocks
		}
		if l.n < lineBlocks {
			l.n++
		}
		b = &l.blk[l.head]
		*b = block{u0: u, minY: math.Inf(1)}
		l.poolClosed()
	}
	if y < b.minY {
		b.minU, b.minY = u, y
	}
	b.n++
	du := u - b.mu
	b.mu += du / b.n
	dy := y - b.my
	b.my += dy / b.n
	b.cuu += du * (u - b.mu)
	b.cuy += du * (y - b.my)
	b.cyy += dy * (y - b.my)
	l.fit()
}

// poolClosed pools the blocks before head (four times a second, so the
// per-cycle fit merges two blocks only).
func (l *line) poolClosed() {
	var n, su, sy float64
	for k := 1; k < l.n; k++ {
		b := &l.blk[(l.head-k+lineBlocks)%lineBlocks]
		n += b.n
		su += b.n * b.mu
		sy += b.n * b.my
	}
	l.pool = block{}
	if n == 0 {
		return
	}
	mu, my := su/n, sy/n
	var cuu, cuy, cyy float64
	for k := 1; k < l.n; k++ {
		b := &l.blk[(l.head-k+lineBlocks)%lineBlocks]
		a, c := b.mu-mu, b.my-my
		cuu += b.cuu + b.n*a*a
		cuy += b.cuy + b.n*a*c
		cyy += b.cyy + b.n*c*c
	}
	l.pool = block{n: n, mu: mu, my: my, cuu: cuu, cuy: cuy, cyy: cyy}
	if l.fitN == 0 || l.n < 4 {
		return
	}
	var sb, gn, gr, sg float64
	groups, in := 0, 0
	for k := 1; k < l.n; k++ {
		b := &l.blk[(l.head-k+lineBlocks)%lineBlocks]
		r := b.my - l.centre(b.mu)
		sb += b.n * r * r
		gn += b.n
		gr += b.n * r
		if in++; in == lineGroup {
			if gn > 0 {
				m := gr / gn
				sg += m * m
				groups++
			}
			gn, gr, in = 0, 0, 0
		}
	}
	l.sb2 = sb / float64(l.n-3)
	if groups > 2 {
		l.sg2 = sg / float64(groups-2)
	}
}

// wander is the RMS of the residuals' one-second means, s: how far the
// published times stray from the line at the frequencies a phase loop
// passes.
func (l *line) wander() float64 {
	if l.sg2 > 0 {
		return math.Sqrt(l.sg2)
	}
	return math.Sqrt(l.v())
}

// fit merges the pool and the newest block into the least-squares line.
func (l *line) fit() {
	p, b := &l.pool, &l.blk[l.head]
	n := p.n + b.n
	if n < 2 {
		return
	}
	mu := (p.n*p.mu + b.n*b.mu) / n
	my := (p.n*p.my + b.n*b.my) / n
	var cuu, cuy, cyy float64
	for _, q := range [2]*block{p, b} {
		a, c := q.mu-mu, q.my-my
		cuu += q.cuu + q.n*a*a
		cuy += q.cuy + q.n*a*c
		cyy += q.cyy + q.n*c*c
	}
	if !(cuu > 0) {
		return
	}
	l.fitN, l.mu, l.my, l.cuu = n, mu, my, cuu
	l.slope = cuy / cuu
	l.s2 = math.Max(0, cyy-cuy*cuy/cuu) / math.Max(1, n-2)
	oldest := &l.blk[(l.head-l.n+1+lineBlocks)%lineBlocks]
	newest := &l.blk[l.head]
	l.span = newest.u0 + lineBlock - oldest.u0
	if l.edge {
		l.fitHull()
	}
}

// fitHull finds the lower hull of the blocks' earliest samples (within a
// block of 0.25 s the hull cannot sit lower than its earliest sample by
// more than the rate error times 0.25 s, a fraction of a µs) and takes its
// edge across the mean position mu as the line.
func (l *line) fitHull() {
	for k := l.n - 1; k >= 0; k-- {
		// A block with no sample yet has minY +Inf: lowerEdge skips it.
		b := &l.blk[(l.head-k+lineBlocks)%lineBlocks]
		i := l.n - 1 - k
		l.minU[i], l.minY[i] = b.minU, b.minY
	}
	a, b, ok := lowerEdge(l.minU[:], l.minY[:], 0, l.n, l.mu, l.hullIdx[:])
	l.hullOK = ok
	if ok {
		l.hSlope = (l.minY[b] - l.minY[a]) / (l.minU[b] - l.minU[a])
		l.hY = l.minY[a] + l.hSlope*(l.mu-l.minU[a])
	}
}

// centre is the least-squares line's offset (s) from nominal at u: the
// samples' centre line, for residuals.
func (l *line) centre(u float64) float64 { return l.my + l.slope*(u-l.mu) }

// y is the fitted offset (s) from the nominal line at u: for an edge line
// its lower hull there.
func (l *line) y(u float64) float64 {
	if l.hullOK {
		return l.hY + l.hSlope*(u-l.mu)
	}
	return l.centre(u)
}

// p is the clock's true seconds per nominal second.
func (l *line) p() float64 {
	if l.hullOK {
		return 1 + l.hSlope
	}
	return 1 + l.slope
}

// timeOf returns the fitted time of graph frame position g, s after base.
func (l *line) timeOf(g float64) float64 {
	u := (g - float64(l.f0)) / l.nominal
	return u + l.y(u)
}

// v is the residual variance the fit's errors follow: the larger of the
// per-sample and the block-mean figure, so wander slower than a block is
// not mistaken for white noise that averages away.
func (l *line) v() float64 {
	v := math.Max(l.s2, l.sb2)
	if l.n < 8 {
		// Too few blocks to see the wander: assume each block's samples
		// move together.
		v = math.Max(v, l.s2*l.fitN/float64(l.n))
	}
	return math.Max(lineFloor*lineFloor, v)
}

// rateStd is the standard error of the slope (fractional rate).
func (l *line) rateStd() float64 { return math.Sqrt(l.v() / l.cuu) }

// phaseStd is the standard error of the fitted time at graph position g,
// in frames.
func (l *line) phaseStd(g float64) float64 {
	u := (g - float64(l.f0)) / l.nominal
	d := u - l.mu
	return math.Sqrt(l.v()*(1/l.fitN+d*d/l.cuu)) * l.nominal
}
