package portaudio

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/device"
)

// How the backend waits for a period (see the package doc for why it
// never lets PortAudio wait).
const (
	// waitLead is how long before the predicted end of a period the
	// waiter wakes and starts looking: more than the wake-up latency of a
	// locked SCHED_FIFO goroutine's sleep (on a 2-core VM: median 129
	// µs, 99th percentile 234 µs), so it is looking when the period
	// completes.
	waitLead = 300 * time.Microsecond
	// spinSpan is how long past the prediction the waiter keeps looking
	// back to back, without sleeping: looks a few µs apart bracket the
	// moment the pointer moves that closely, where a sleep between looks
	// would make the bracket a wake-up latency wide. Together with
	// waitLead it bounds the spinning to 450 µs of a period (typically
	// ~170 µs: 3% of a core at 256 frames and 48 kHz).
	spinSpan = 150 * time.Microsecond
	// waitStep is the interval between looks once the period is later
	// than that.
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
// It sleeps until just before the predicted end of the period (the
// previous completion plus one period), then looks at the frames
// available back to back until the period is in (or, past spinSpan, every
// waitStep). The completion is stamped from the two looks
// that bracket it, never from a wake-up time alone: how late a thread
// wakes wanders by tens of µs over seconds on a loaded machine, and a
// stamp that carries that wander carries it into the measured clock.
//
//   - The pointer moved smoothly between the looks (about as many frames
//     as the time between them holds): the period ended where the line
//     through the two looks' frame counts crosses it.
//   - The pointer jumped (a device that moves it a period at a time, as
//     SG DMA engines and many USB drivers do): the period ended somewhere
//     between the looks, and the middle is the stamp whose error has mean
//     zero. When the looks were far apart (the waiter slept through the
//     period's end), the prediction, held inside the bracket, is.
//   - No earlier look (the waiter came back to a backlog): the
//     prediction, but no later than the frames beyond the period allow
//     ((n-period)/rate before the look).
func (d *Device) awaitPeriod() (t int64, overflowed bool, err error) {
	need := d.format.Period
	rate := float64(d.format.Rate)
	period := d.periodNs()
	predicted := d.predict(period)
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
			d.anchorCount = 0
			continue
		case aerr != nil:
			return 0, overflowed, aerr
		case n >= need:
			t, tight := bracket(prevLook, prevN, now, n, need, rate, predicted)
			if tight && !overflowed {
				d.learn(d.next, t)
			}
			return t, overflowed, nil
		case now > limit:
			return 0, overflowed, errNoPeriod{time.Duration(now - d.prevTime)}
		}
		prevLook, prevN = before, n
		var wake int64
		switch {
		case now < predicted-int64(waitLead):
			wake = predicted - int64(waitLead)
		case now < predicted+int64(spinSpan):
			continue
		case now < predicted+int64(waitLate):
			wake = now + int64(waitStep)
		default:
			// Late: the device's rate is not what it said, it was
			// restarted, or it stopped. Aim at the frames it still owes.
			owed := int64(float64(need-n) * 1e9 / rate)
			predicted = now + owed
			wake = now + min(max(owed-int64(waitLead), int64(waitStep)), int64(waitCoarse))
		}
		sleepUntil(wake)
	}
}

// bracket stamps the moment the device held need frames, from a look at
// time t0 that found n0 < need frames (t0 == 0: no such look) and one at
// t1 that found n1 >= need; predicted is when the period was due by the
// previous stamps (predict). tight reports a stamp the looks pinned down
// (to a few µs), not one that leaned on the prediction. See awaitPeriod.
func bracket(t0 int64, n0 int, t1 int64, n1, need int, rate float64, predicted int64) (t int64, tight bool) {
	late := t1 - int64(float64(n1-need)*1e9/rate) // the latest it can have been
	if t0 == 0 || t1 <= t0 || n1-need >= n1-n0 {
		// Nothing brackets it: the waiter came back to a backlog (a
		// stall, or periods queued behind a late read). Each queued
		// period ended a period after the one before; the newest may
		// have ended any time before this look.
		return min(predicted, late), false
	}
	dt := float64(t1 - t0)
	moved := float64(n1 - n0)
	tight = t1-t0 <= wideBracket
	// A pointer that moves frame by frame shows partial periods (n0 > 0)
	// and moves rate·dt frames, give or take one at each end: the
	// crossing is on the line between the looks.
	if n0 > 0 && moved <= dt*rate/1e9+2 {
		return t0 + int64(dt*float64(need-n0)/moved), tight
	}
	// It jumped. Between two looks µs apart the middle is the stamp. A
	// wide bracket (the waiter slept through the period's end, or a look
	// was held up) says little: there the prediction, kept inside the
	// bracket, is nearer the truth than either end.
	if !tight {
		return min(max(predicted, t0), late), false
	}
	return t0 + (t1-t0)/2, true
}

// predict returns when the period Wait awaits (Count d.next) is due: from
// the newest tight stamp and the period measured between tight stamps,
// so a stamp that leaned on a prediction never feeds the next one (a
// chain of those would follow the nominal rate, not the device's); until
// there is one, a nominal period after the previous completion.
func (d *Device) predict(nominal int64) int64 {
	if d.anchorCount == 0 || d.learned == 0 || d.next <= d.anchorCount {
		return d.prevTime + nominal
	}
	return d.anchorTime + int64(float64(d.next-d.anchorCount)*d.periodEst)
}

// learn takes the tight stamp t of Count k as the anchor and refines the
// measured period with it: an average over ~predictMemory periods, whose
// error (a few ppm for µs stamps) moves a prediction by far less than a
// µs.
func (d *Device) learn(k uint64, t int64) {
	if d.anchorCount != 0 && k > d.anchorCount {
		m := float64(t-d.anchorTime) / float64(k-d.anchorCount)
		switch {
		case d.learned == 0:
			d.periodEst, d.learned = m, 1
		case m > 0.998*d.periodEst && m < 1.002*d.periodEst:
			// A running mean, then an average over predictMemory.
			d.learned = min(d.learned+1, predictMemory)
			d.periodEst += (m - d.periodEst) / float64(d.learned)
		}
	}
	d.anchorCount, d.anchorTime = k, t
}

// predictMemory is the measured period's averaging, in periods.
const predictMemory = 128

// wideBracket is the spacing of looks beyond which their middle is no
// longer a good stamp: back-to-back looks are 1-3 µs apart, so a wider
// bracket held a preempted look or a sleep.
const wideBracket = int64(20 * time.Microsecond)

// sleepUntil sleeps the calling thread until CLOCK_MONOTONIC time t (ns).
// clock_nanosleep rather than time.Sleep: the Go timer's resolution and
// wake-up latency are not promised at tens of microseconds, and the
// engine's interrupt loop owns its thread anyway.
func sleepUntil(t int64) {
	ts := unix.NsecToTimespec(t)
	for {
		err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
		if err != unix.EINTR {
			return
		}
	}
}
