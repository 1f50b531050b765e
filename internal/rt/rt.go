package rt

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultPriority is the SCHED_FIFO priority asked for by default: above
// JACK's clients (jackd -P 70 puts them at 65), below the server itself.
const DefaultPriority = 60

// Config says what to ask for.
type Config struct {
	Priority   int  // SCHED_FIFO priority, 1..99; 0 skips scheduling
	LockMemory bool // mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT)
}

// Result is what the thread got.
type Result struct {
	Realtime bool   // SCHED_FIFO obtained
	Priority int    // its priority, 0 when not real-time
	Via      string // "sched_setattr" or "rtkit"; "" when not real-time
	Locked   bool   // memory locked
	// Notes say why something was not obtained, one line each.
	Notes []string
}

// String renders r as one log line.
func (r Result) String() string {
	var b strings.Builder
	if r.Realtime {
		fmt.Fprintf(&b, "SCHED_FIFO priority %d via %s", r.Priority, r.Via)
	} else {
		b.WriteString("normal priority (SCHED_OTHER)")
	}
	if r.Locked {
		b.WriteString(", memory locked")
	} else {
		b.WriteString(", memory not locked")
	}
	if len(r.Notes) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(r.Notes, "; "))
	}
	return b.String()
}

// system is the operating system as Promote sees it; tests replace it.
type system struct {
	setFIFO   func(prio int) error // sched_setattr on the calling thread
	rtprio    func() (uint64, error)
	rtkit     func(tid, prio int) (int, error) // returns the priority granted
	mlock     func() error
	tid       func() int
	privilege func() bool // CAP_SYS_NICE-like: the rlimit does not bind
}

func osSystem() system {
	return system{
		setFIFO: func(prio int) error {
			return unix.SchedSetAttr(0, &unix.SchedAttr{
				Size:     unix.SizeofSchedAttr,
				Policy:   unix.SCHED_FIFO,
				Flags:    unix.SCHED_FLAG_RESET_ON_FORK,
				Priority: uint32(prio),
			}, 0)
		},
		rtprio: func() (uint64, error) {
			var l unix.Rlimit
			err := unix.Getrlimit(unix.RLIMIT_RTPRIO, &l)
			return l.Cur, err
		},
		rtkit: makeRealtimeRTKit,
		mlock: func() error {
			return unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT)
		},
		tid:       unix.Gettid,
		privilege: func() bool { return unix.Geteuid() == 0 },
	}
}

// Promote makes the calling OS thread real-time as far as it is allowed.
// Call it from a goroutine that holds runtime.LockOSThread, and call
// Demote on the same thread before unlocking it, or the scheduling
// attributes leak to whatever goroutine the thread runs next.
func Promote(cfg Config) Result { return promote(osSystem(), cfg) }

func promote(s system, cfg Config) Result {
	var r Result
	if cfg.Priority > 0 {
		schedule(s, cfg.Priority, &r)
	}
	if cfg.LockMemory {
		if err := s.mlock(); err != nil {
			r.Notes = append(r.Notes, fmt.Sprintf("mlockall: %v (raise RLIMIT_MEMLOCK, e.g. the packaged limits.d file)", err))
		} else {
			r.Locked = true
		}
	}
	return r
}

func schedule(s system, want int, r *Result) {
	if want > 99 {
		want = 99
	}
	prio := want
	limit, err := s.rtprio()
	switch {
	case err != nil:
		r.Notes = append(r.Notes, fmt.Sprintf("RLIMIT_RTPRIO: %v", err))
	case limit == 0 && !s.privilege():
		prio = 0 // the kernel would refuse; go straight to RealtimeKit
	case limit > 0 && uint64(prio) > limit && !s.privilege():
		prio = int(limit)
		r.Notes = append(r.Notes, fmt.Sprintf("priority %d clamped to RLIMIT_RTPRIO %d", want, limit))
	}
	if prio > 0 {
		err := s.setFIFO(prio)
		if err == nil {
			r.Realtime, r.Priority, r.Via = true, prio, "sched_setattr"
			return
		}
		r.Notes = append(r.Notes, fmt.Sprintf("sched_setattr(SCHED_FIFO, %d): %v", prio, err))
	} else {
		r.Notes = append(r.Notes, "RLIMIT_RTPRIO is 0 (add the user to the audio group with the packaged limits.d file)")
	}
	got, err := s.rtkit(s.tid(), want)
	if err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("RealtimeKit: %v", err))
		return
	}
	r.Realtime, r.Priority, r.Via = true, got, "rtkit"
}

// Demote returns the calling thread to SCHED_OTHER. Lowering is always
// permitted, whichever way the priority was obtained.
func Demote() error {
	err := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}, 0)
	if err != nil {
		return fmt.Errorf("sched_setattr(SCHED_OTHER): %w", err)
	}
	return nil
}

// Current reports the calling thread's policy and priority.
func Current() (policy string, prio int, err error) {
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return "", 0, err
	}
	switch a.Policy {
	case unix.SCHED_FIFO:
		return "SCHED_FIFO", int(a.Priority), nil
	case unix.SCHED_RR:
		return "SCHED_RR", int(a.Priority), nil
	case unix.SCHED_NORMAL:
		return "SCHED_OTHER", 0, nil
	}
	return fmt.Sprintf("policy %d", a.Policy), int(a.Priority), nil
}

var errNoBus = errors.New("no D-Bus system bus")
