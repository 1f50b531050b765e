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
	// waiter wakes and starts looking: more than a thread's usual wake-up
	// latency, so it is looking when the period completes.
	waitLead = 300 * time.Microsecond
	// waitStep is the interval between looks near the predicted end. A
	// device whose pointer moves a whole period at a time is stamped at
	// the middle of the step in which its frames appeared, so the stamp
	// is off by at most half of it.
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
// available every waitStep. The completion is stamped from the frame
// count found, not the time of the look: frames beyond the period were
// captured after it ended, (n-period)/rate seconds before the look. When
// exactly one period is in, as on a device whose pointer moves a period
// at a time, the period ended between this look and the previous one,
// and the stamp is the middle of the two.
func (d *Device) awaitPeriod() (t int64, overflowed bool, err error) {
	need := d.format.Period
	rate := float64(d.format.Rate)
	period := d.periodNs()
	predicted := d.prevTime + period
	limit := d.prevTime + d.timeout()
	var prevLook int64 // time of the previous look that found too few frames
	for {
		if d.stopped.Load() {
			return 0, false, device.ErrStopped
		}
		n, aerr := d.avail()
		now := nowNs()
		switch {
		case aerr == errOverflow:
			// PortAudio restarted the overrun stream: the next period
			// ends one period from now.
			overflowed = true
			predicted, prevLook = now+period, 0
			continue
		case aerr != nil:
			return 0, overflowed, aerr
		case n >= need:
			t = now - int64(float64(n-need)*1e9/rate)
			if n == need && prevLook != 0 && now-prevLook <= 2*int64(waitStep) {
				t = prevLook + (now-prevLook)/2
			}
			return t, overflowed, nil
		case now > limit:
			return 0, overflowed, errNoPeriod{time.Duration(now - d.prevTime)}
		}
		prevLook = now
		var wake int64
		switch {
		case now < predicted-int64(waitLead):
			wake = predicted - int64(waitLead)
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
