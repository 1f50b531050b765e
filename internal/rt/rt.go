package rt

// #include "sgb_rt.h"
import "C"

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultPriority is the SCHED_FIFO priority asked for by default: above
// JACK's clients (jackd -P 70 puts them at 65), below the server itself.
const DefaultPriority = 60

// DefaultNice is the nice level asked for a thread's time at SCHED_OTHER:
// PulseAudio's choice, within RealtimeKit's default floor of -15.
const DefaultNice = -11

// Config says what to ask for.
type Config struct {
	Priority int // SCHED_FIFO priority, 1..99; 0 skips scheduling
	// WaitsOnly confines SCHED_FIFO to the thread's waits in SleepUntil
	// and Poll (sgb_rt.c says why a Go thread must not run Go code at
	// SCHED_FIFO). The kernel must allow the rise each time, so only
	// RLIMIT_RTPRIO or privilege will do, never RealtimeKit.
	WaitsOnly bool
	// Nice is the nice level asked for the thread when it is not at
	// SCHED_FIFO (negative is more CPU); 0 leaves it.
	Nice       int
	LockMemory bool // mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT)
}

// Result is what the thread got.
type Result struct {
	Realtime  bool   // SCHED_FIFO obtained
	WaitsOnly bool   // ... for the thread's waits only
	Priority  int    // its priority, 0 when not real-time
	Via       string // "sched_setattr", "sched_setscheduler" or "rtkit"; "" when not real-time
	Nice      int    // nice level obtained, 0 when unchanged
	NiceVia   string // "setpriority" or "rtkit"
	Locked    bool   // memory locked
	// Notes say why something was not obtained, one line each.
	Notes []string
}

// String renders r as one log line.
func (r Result) String() string {
	var b strings.Builder
	switch {
	case r.Realtime && r.WaitsOnly:
		fmt.Fprintf(&b, "SCHED_FIFO priority %d while waiting via %s, SCHED_OTHER between waits", r.Priority, r.Via)
	case r.Realtime:
		fmt.Fprintf(&b, "SCHED_FIFO priority %d via %s", r.Priority, r.Via)
	default:
		b.WriteString("normal priority (SCHED_OTHER)")
	}
	if r.Nice != 0 {
		fmt.Fprintf(&b, " at nice %d via %s", r.Nice, r.NiceVia)
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
	armWaits  func(prio int) error // SCHED_FIFO for the calling thread's waits
	rtprio    func() (uint64, error)
	rtkit     func(tid, prio int) (int, error) // returns the priority granted
	rlimNice  func() (uint64, error)
	setNice   func(nice int) error
	rtkitNice func(tid, nice int) (int, error) // returns the nice granted
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
		rtprio:   rlimit(unix.RLIMIT_RTPRIO),
		armWaits: func(prio int) error { return errnoErr(C.sgb_rt_arm(C.int(prio))) },
		rtkit:    makeRealtimeRTKit,
		rlimNice: rlimit(unix.RLIMIT_NICE),
		setNice:  func(nice int) error { return errnoErr(C.sgb_rt_set_nice(C.int(nice))) },
		rtkitNice: func(tid, nice int) (int, error) {
			C.sgb_rt_save_nice() // so that Demote restores it
			return makeHighPriorityRTKit(tid, nice)
		},
		mlock: func() error {
			return unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT)
		},
		tid:       unix.Gettid,
		privilege: func() bool { return unix.Geteuid() == 0 },
	}
}

// rlimit reads the soft limit of resource res.
func rlimit(res int) func() (uint64, error) {
	return func() (uint64, error) {
		var l unix.Rlimit
		err := unix.Getrlimit(res, &l)
		return l.Cur, err
	}
}

// errnoErr turns the errno a C function returned (0: none) into an error.
func errnoErr(e C.int) error {
	if e != 0 {
		return unix.Errno(e)
	}
	return nil
}

// Promote makes the calling OS thread real-time as far as it is allowed.
// Call it from a goroutine that holds runtime.LockOSThread, and call
// Demote on the same thread before unlocking it, or the scheduling
// attributes leak to whatever goroutine the thread runs next.
func Promote(cfg Config) Result { return promote(osSystem(), cfg) }

func promote(s system, cfg Config) Result {
	var r Result
	switch {
	case cfg.Priority > 0 && cfg.WaitsOnly:
		armWaits(s, cfg.Priority, &r)
	case cfg.Priority > 0:
		schedule(s, cfg.Priority, &r)
	}
	if cfg.Nice < 0 && (!r.Realtime || r.WaitsOnly) {
		renice(s, cfg.Nice, &r)
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

// allowedFIFO clamps want to what the kernel allows this thread: 0 when
// RLIMIT_RTPRIO allows nothing.
func allowedFIFO(s system, want int, r *Result) int {
	prio := min(want, 99)
	limit, err := s.rtprio()
	switch {
	case err != nil:
		r.Notes = append(r.Notes, fmt.Sprintf("RLIMIT_RTPRIO: %v", err))
	case limit == 0 && !s.privilege():
		return 0
	case limit > 0 && uint64(prio) > limit && !s.privilege():
		r.Notes = append(r.Notes, fmt.Sprintf("priority %d clamped to RLIMIT_RTPRIO %d", prio, limit))
		prio = int(limit)
	}
	return prio
}

func armWaits(s system, want int, r *Result) {
	prio := allowedFIFO(s, want, r)
	if prio == 0 {
		r.Notes = append(r.Notes, "RLIMIT_RTPRIO is 0, and RealtimeKit cannot give SCHED_FIFO for waits only (add the user to the audio group with the packaged limits.d file)")
		return
	}
	if err := s.armWaits(prio); err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("sched_setscheduler(SCHED_FIFO, %d): %v", prio, err))
		return
	}
	r.Realtime, r.WaitsOnly, r.Priority, r.Via = true, true, prio, "sched_setscheduler"
}

// renice lowers the thread's nice level to want, or as far as
// RLIMIT_NICE lets it, else asks RealtimeKit.
func renice(s system, want int, r *Result) {
	nice := max(want, -20)
	if !s.privilege() {
		// RLIMIT_NICE n allows nice levels down to 20-n.
		if limit, err := s.rlimNice(); err == nil && 20-int(min(limit, 40)) > nice {
			nice = 20 - int(min(limit, 40))
		}
	}
	if nice < 0 {
		err := s.setNice(nice)
		if err == nil {
			r.Nice, r.NiceVia = nice, "setpriority"
			if nice != want {
				r.Notes = append(r.Notes, fmt.Sprintf("nice %d clamped to RLIMIT_NICE's %d", want, nice))
			}
			return
		}
		r.Notes = append(r.Notes, fmt.Sprintf("setpriority(%d): %v", nice, err))
	}
	got, err := s.rtkitNice(s.tid(), want)
	if err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("RealtimeKit nice level: %v", err))
		return
	}
	r.Nice, r.NiceVia = got, "rtkit"
}

func schedule(s system, want int, r *Result) {
	want = min(want, 99)
	prio := allowedFIFO(s, want, r)
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

// Demote returns the calling thread to SCHED_OTHER at the nice level it
// had before Promote, and its waits to its own priority. Lowering is
// always permitted, whichever way the priority was obtained.
func Demote() error {
	if err := errnoErr(C.sgb_rt_disarm()); err != nil {
		return fmt.Errorf("sched_setscheduler(SCHED_OTHER): %w", err)
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
