package uio

import (
	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/device/stamp"
	"github.com/sgbridge/sgbridge/internal/rt"
)

// watch times the completion of the buffer Wait is about to report by the
// DMA engine's current-buffer register, when the profile names one: it
// sleeps until just before the buffer is due, then reads the register
// back to back until it moves on, and brackets the move (stamp.Bracket).
// The interrupt that follows is woken through the scheduler (and, from
// the emulator, a socket), so its wake-up time is late by a latency that
// wanders by tens of µs over seconds; a register read is a load from the
// device's memory, and two of them a µs apart pin the completion down.
//
// seen is false when there is nothing to watch (no register, no base or
// prediction yet) or the register did not move within stamp.Span of the
// prediction; Wait then stamps the interrupt's arrival.
func (d *Device) watch() (t int64, tight, seen bool) {
	r := d.cfg.Profile.Registers
	if r == nil || r.CurrentBuffer < 0 || !d.haveBase || d.prevTime == 0 || d.regs == nil {
		return 0, false, false
	}
	f := d.cfg.Profile.Format
	n := uint64(len(d.cfg.Profile.Buffers))
	k := d.count + 1
	predicted, ok := d.pred.Predict(k)
	if !ok {
		predicted = d.prevTime + int64(f.Period)*1e9/int64(f.Rate)
	}
	// Completion k fills ring buffer (shift+k-1) mod n; once it is done
	// the engine fills the next one.
	filling := uint32((uint64(d.shift) + k - 1) % n)
	reg := d.reg(r.CurrentBuffer)
	// Sleep until just before it is due, but wake for the interrupt (or
	// Stop): an interrupt first means the prediction was late (it rests
	// on a late stamp: a stalled reader, a Completion 1 delivered late),
	// and the interrupt's arrival is then the stamp. Without an anchor
	// that puts the next prediction back within a wake-up latency of the
	// truth; with one, missRun misses drop it (missed).
	if wait := predicted - int64(stamp.Lead) - nowNs(); wait > 0 {
		if ready, _, err := rt.Poll(d.pfd[:], wait); ready != 0 || (err != nil && err != unix.EINTR) {
			if err == nil {
				d.missed(ok)
			}
			return 0, false, false
		}
	}
	if d.stopped.Load() {
		return 0, false, false
	}
	// The looks themselves run in C, at SCHED_FIFO on the interrupt
	// loop's thread: they are a wait too (internal/rt).
	pending, now, moved := rt.Watch(reg, filling, predicted+int64(stamp.Span))
	if !moved {
		d.missed(ok)
		return 0, false, false
	}
	if pending == 0 && now < predicted {
		// Done before it was due, on the first look: this thread woke
		// late, or the ring's alignment is off (realign mends it at the
		// interrupt). Either way the register says nothing about when;
		// the interrupt's arrival is the safer stamp.
		d.missed(ok)
		return 0, false, false
	}
	d.misses = 0
	t, tight = stamp.Bracket(pending, 0, now, f.Period, f.Period, float64(f.Rate), predicted)
	return t, tight, true
}

// missRun is how many predicted completions in a row the watch may miss
// before the prediction's anchor is dropped.
const missRun = 8

// missed counts a completion the watch did not see, fromAnchor if it was
// predicted from the Predictor's anchor. Only a tight stamp moves the
// anchor, and a watch that misses takes none: an anchor off by more than
// the watch's window (taken from a register the emulator wrote late, as
// four flukes in a row are, or a device whose phase jumped) would keep
// every later prediction off, and every later stamp an interrupt's
// arrival, for good. Dropping it predicts from the previous stamp, an
// arrival a wake-up latency (under stamp.Lead) late, so the next look
// starts before the register moves and anchors the Predictor again.
func (d *Device) missed(fromAnchor bool) {
	if !fromAnchor {
		return
	}
	if d.misses++; d.misses >= missRun {
		d.pred.Forget()
		d.misses = 0
	}
}
