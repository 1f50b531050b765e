package stamp

import "time"

// How a backend looks (see the package doc).
const (
	// Lead is how long before a completion is due a backend stops
	// sleeping and starts looking: more than the wake-up latency of a
	// locked SCHED_FIFO goroutine's sleep (on a 2-core VM: median 129 µs,
	// 99th percentile 234 µs), so it is looking when the device moves.
	Lead = 300 * time.Microsecond
	// Span is how long past the prediction it keeps looking back to
	// back before it gives the completion up as late. With Lead it bounds
	// the looking to 450 µs a period (typically ~170 µs).
	Span = 150 * time.Microsecond
)

// Tight is the widest bracket whose looks pin a completion down: looks
// made back to back are 1-3 µs apart, so a wider bracket held a sleep or
// a preempted look.
const Tight = 20 * time.Microsecond

// Bracket stamps the moment a device held need frames. A look starting
// at t0 found n0 < need (t0 == 0: no such look); a look ending at t1
// found n1 >= need; predicted is when it was due (Predictor.Predict).
// tight reports a stamp the looks pinned down rather than one that
// leaned on the prediction.
//
//   - Frames beyond need were captured after the completion: it came no
//     later than (n1-need)/rate before t1.
//   - A pointer that moves frame by frame (n0 > 0, and it moved about as
//     many frames as the time between the looks holds) crossed need on
//     the line between the two looks.
//   - One that jumps (a period at a time) did so between the looks: their
//     middle, when they are at most Tight apart.
//   - Otherwise the prediction, held inside what the looks allow.
func Bracket(t0 int64, n0 int, t1 int64, n1, need int, rate float64, predicted int64) (t int64, tight bool) {
	late := t1 - int64(float64(n1-need)*1e9/rate)
	if t0 == 0 || t1 <= t0 || n0 >= need {
		// Nothing brackets it: the looker came back to a backlog (a
		// stall, or periods queued behind a late read).
		return min(predicted, late), false
	}
	dt := float64(t1 - t0)
	moved := float64(n1 - n0)
	tight = t1-t0 <= int64(Tight)
	if n0 > 0 && moved <= dt*rate/1e9+2 {
		return t0 + int64(dt*float64(need-n0)/moved), tight
	}
	if !tight {
		return min(max(predicted, t0), late), false
	}
	return t0 + (t1-t0)/2, true
}

// Memory is the Predictor's averaging of the measured period, in periods:
// its error (a few ppm for µs stamps) moves a prediction by far less than
// a µs.
const Memory = 128

// Predictor predicts when completion k is due from the newest tight
// stamp and the period measured between tight stamps. The zero value has
// learned nothing.
type Predictor struct {
	anchor  uint64 // Count of the newest tight stamp; 0: none
	at      int64  // its time, ns
	period  float64
	learned int // periods averaged into period, up to Memory
	off     int // tight stamps in a row that Judge held for flukes
}

// Outlier is how far a tight stamp may fall from the prediction before
// Judge holds it for a fluke: the prediction is good to well under a µs,
// a device's period moves by far less than this from one completion to
// the next, and a completion signalled late (a register written late: the
// emulator's when its host takes the CPU away for tens to hundreds of µs)
// is further off.
const Outlier = 10 * time.Microsecond

// OutlierRun is how many tight stamps in a row Outlier off the prediction
// mean the device moved, not a fluke: Judge then takes the stamp and the
// Predictor follows it.
const OutlierRun = 4

// Reset forgets everything: a new stream, a new timeline.
func (p *Predictor) Reset() { *p = Predictor{} }

// Forget drops the anchor but keeps the measured period: the same device
// whose count no longer lines up with its time (an overrun restart).
func (p *Predictor) Forget() { p.anchor, p.off = 0, 0 }

// Predict returns when completion k is due, and false when the predictor
// has no anchor before k and a measured period yet.
func (p *Predictor) Predict(k uint64) (int64, bool) {
	if p.anchor == 0 || p.learned == 0 || k <= p.anchor {
		return 0, false
	}
	return p.at + int64(float64(k-p.anchor)*p.period), true
}

// Learn takes the tight stamp t of completion k as the anchor and refines
// the measured period with it. A period more than 0.2 % off the measured
// one (a stamp a bracket did not really pin down) is not averaged in.
func (p *Predictor) Learn(k uint64, t int64) {
	if p.anchor != 0 && k > p.anchor {
		m := float64(t-p.at) / float64(k-p.anchor)
		switch {
		case p.learned == 0:
			p.period, p.learned = m, 1
		case m > 0.998*p.period && m < 1.002*p.period:
			// A running mean, then an average over Memory.
			p.learned = min(p.learned+1, Memory)
			p.period += (m - p.period) / float64(p.learned)
		}
	}
	p.anchor, p.at = k, t
}

// Judge vets a tight stamp t of completion k against the prediction. It
// returns t and true when t is within Outlier of it (or there is none),
// and the prediction and false for a fluke, which must not be learned.
// OutlierRun flukes in a row are the device moving: the last of them is
// returned as good and the Predictor drops its anchor to follow it.
// It suits a register a DMA engine writes (UIO), not a sound card's
// pointer, which USB moves in bursts a millisecond apart.
func (p *Predictor) Judge(k uint64, t int64) (int64, bool) {
	pred, ok := p.Predict(k)
	if !ok || (t-pred <= int64(Outlier) && pred-t <= int64(Outlier)) {
		p.off = 0
		return t, true
	}
	if p.off++; p.off < OutlierRun {
		return pred, false
	}
	p.off = 0
	p.Forget()
	return t, true
}

// Period returns the measured period, ns, and whether there is one.
func (p *Predictor) Period() (float64, bool) { return p.period, p.learned > 0 }
