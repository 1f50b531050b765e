package portaudio

import (
	"fmt"
	"time"

	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/device/stamp"
	"github.com/sgbridge/sgbridge/internal/rt"
)

// How the backend waits for a period (see the package doc for why it
// never lets PortAudio wait).
const (
	// waitStep is the interval between looks once the period is more
	// than stamp.Span late: until then the waiter looks back to back
	// from stamp.Lead before it is due, since looks a few µs apart
	// bracket the moment the pointer moves that closely, where a sleep
	// between looks would make the bracket a wake-up latency wide.
	waitStep = 30 * time.Microsecond
	// waitLate is how long past the prediction the waiter keeps looking
	// at waitStep before it falls back to coarse looks.
	waitLate = time.Millisecond
	// waitCoarse bounds the interval between looks once a period is late:
	// a device that stopped is looked at this often until the timeout.
	waitCoarse = 10 * time.Millisecond
)

// DefaultTimeout is how long Wait waits for a period, counted from the
// previous one, before it takes the device for gone: at least this, and
// at least 8 periods.
const DefaultTimeout = 250 * time.Millisecond

// timeout is the time without a period after which the device is gone.
func (d *Device) timeout() int64 {
	t := d.cfg.Timeout
	if t == 0 {
		t = DefaultTimeout
	}
	return max(int64(t), 8*d.periodNs())
}

func (d *Device) periodNs() int64 {
	return int64(d.format.Period) * 1e9 / int64(d.format.Rate)
}

// errNoPeriod is Wait's error when no period came within the timeout: a
// device whose pointer stopped without an error (an unplugged card that
// alsa-lib reads through the mmap'd status page reports nothing else).
type errNoPeriod struct{ d time.Duration }

func (e errNoPeriod) Error() string {
	return fmt.Sprintf("no period for %v", e.d.Round(time.Millisecond))
}

// awaitPeriod waits until at least one period can be read without
// PortAudio waiting, and returns the CLOCK_MONOTONIC time at which that
// period completed, and whether the device overran meanwhile.
//
// It sleeps until just before the period is due (stamp.Predictor, or a
// nominal period after the previous completion), then looks at the
// frames available back to back until the period is in (or, past
// stamp.Span late, every waitStep). The completion is stamped from the two looks
// that bracket it (stamp.Bracket), never from a wake-up time alone: how
// late a thread wakes wanders by tens of µs over seconds on a loaded
// machine, and a stamp that carries that wander carries it into the
// measured clock.
func (d *Device) awaitPeriod() (t int64, overflowed bool, err error) {
	need := d.format.Period
	rate := float64(d.format.Rate)
	period := d.periodNs()
	predicted, ok := d.pred.Predict(d.next)
	if !ok {
		predicted = d.prevTime + period
	}
	limit := d.prevTime + d.timeout()
	var prevLook int64 // start of the previous look, which found too few frames
	var prevN int      // the frames that look found
	for {
		if d.stopped.Load() {
			return 0, false, device.ErrStopped
		}
		// The pointer was read somewhere between before and now: a look
		// that found too few frames bounds the period's end from below
		// by its start, one that found enough from above by its end. (A
		// thread preempted inside a look then widens a bracket instead
		// of moving it.)
		before := nowNs()
		n, aerr := d.avail()
		now := nowNs()
		switch {
		case aerr == errOverflow:
			// PortAudio restarted the overrun stream: the next period
			// ends one period from now.
			overflowed = true
			predicted, prevLook = now+period, 0
			d.pred.Forget()
			continue
		case aerr != nil:
			return 0, overflowed, aerr
		case n >= need:
			t, tight := stamp.Bracket(prevLook, prevN, now, n, need, rate, predicted)
			if tight && !overflowed {
				d.pred.Learn(d.next, t)
			}
			return t, overflowed, nil
		case now > limit:
			return 0, overflowed, errNoPeriod{time.Duration(now - d.prevTime)}
		}
		prevLook, prevN = before, n
		var wake int64
		switch {
		case now < predicted-int64(stamp.Lead):
			wake = predicted - int64(stamp.Lead)
		case now < predicted+int64(stamp.Span):
			continue
		case now < predicted+int64(waitLate):
			wake = now + int64(waitStep)
		default:
			// Late: the device's rate is not what it said, it was
			// restarted, or it stopped. Aim at the frames it still owes.
			owed := int64(float64(need-n) * 1e9 / rate)
			predicted = now + owed
			wake = now + min(max(owed-int64(stamp.Lead), int64(waitStep)), int64(waitCoarse))
		}
		// clock_nanosleep, not time.Sleep: the Go timer does not promise
		// tens of µs. At SCHED_FIFO on the interrupt loop's thread, which
		// then looks at the device at SCHED_OTHER (internal/rt).
		rt.SleepUntil(wake)
	}
}
