package rt

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type fake struct {
	limit     uint64
	priv      bool
	fifoErr   error
	rtkitErr  error
	rtkitMax  int
	mlockErr  error
	gotFIFO   int
	gotRTKit  int
	rtkitTid  int
	fifoCalls int

	armErr       error
	gotArm       int
	niceLimit    uint64
	niceErr      error
	gotNice      int
	rtkitNiceErr error
	gotRTKitNice int
}

func (f *fake) system() system {
	return system{
		setFIFO: func(p int) error { f.fifoCalls++; f.gotFIFO = p; return f.fifoErr },
		rtprio:  func() (uint64, error) { return f.limit, nil },
		rtkit: func(tid, p int) (int, error) {
			f.rtkitTid = tid
			if f.rtkitErr != nil {
				return 0, f.rtkitErr
			}
			f.gotRTKit = min(p, f.rtkitMax)
			return f.gotRTKit, nil
		},
		armWaits: func(p int) error {
			if f.armErr != nil {
				return f.armErr
			}
			f.gotArm = p
			return nil
		},
		rlimNice: func() (uint64, error) { return f.niceLimit, nil },
		setNice: func(n int) error {
			if f.niceErr != nil {
				return f.niceErr
			}
			f.gotNice = n
			return nil
		},
		rtkitNice: func(tid, n int) (int, error) {
			if f.rtkitNiceErr != nil {
				return 0, f.rtkitNiceErr
			}
			f.gotRTKitNice = max(n, -15)
			return f.gotRTKitNice, nil
		},
		mlock:     func() error { return f.mlockErr },
		tid:       func() int { return 4242 },
		privilege: func() bool { return f.priv },
	}
}

func TestPromote(t *testing.T) {
	tests := []struct {
		name     string
		f        fake
		want     int
		wantRT   bool
		wantVia  string
		fifoTry  int    // priority sched_setattr was asked for, 0 = not asked
		wantNote string // in String()
	}{
		{"within limit", fake{limit: 95}, 60, true, "sched_setattr", 60, "SCHED_FIFO priority 60"},
		{"clamped to rlimit", fake{limit: 40}, 60, true, "sched_setattr", 40, "clamped to RLIMIT_RTPRIO 40"},
		{"privileged ignores rlimit", fake{limit: 0, priv: true}, 60, true, "sched_setattr", 60, "via sched_setattr"},
		{"no rlimit: rtkit", fake{limit: 0, rtkitMax: 20}, 60, true, "rtkit", 0, "SCHED_FIFO priority 20 via rtkit"},
		{"kernel refuses: rtkit", fake{limit: 95, fifoErr: unix.EPERM, rtkitMax: 99}, 60, true, "rtkit", 60, "operation not permitted"},
		{"nothing allowed", fake{limit: 0, rtkitErr: errNoBus}, 60, false, "", 0, "normal priority (SCHED_OTHER), memory locked: RLIMIT_RTPRIO is 0"},
		{"priority above 99", fake{limit: 99}, 150, true, "sched_setattr", 99, "priority 99"},
		{"mlock refused", fake{limit: 99, mlockErr: unix.ENOMEM}, 10, true, "sched_setattr", 10, "memory not locked: mlockall: cannot allocate memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			r := promote(f.system(), Config{Priority: tt.want, LockMemory: true})
			if r.Realtime != tt.wantRT || r.Via != tt.wantVia {
				t.Errorf("got %+v", r)
			}
			if f.gotFIFO != tt.fifoTry {
				t.Errorf("sched_setattr asked for %d, want %d", f.gotFIFO, tt.fifoTry)
			}
			if tt.wantVia == "rtkit" && f.rtkitTid != 4242 {
				t.Errorf("rtkit asked for thread %d", f.rtkitTid)
			}
			if s := r.String(); !strings.Contains(s, tt.wantNote) {
				t.Errorf("String() = %q, want it to mention %q", s, tt.wantNote)
			}
			if r.Locked != (f.mlockErr == nil) {
				t.Errorf("Locked = %v with mlock error %v", r.Locked, f.mlockErr)
			}
		})
	}
}

// The interrupt loop's request: SCHED_FIFO for its waits only, which
// RealtimeKit cannot give, and a nice level for the rest.
func TestPromoteWaitsOnly(t *testing.T) {
	tests := []struct {
		name      string
		f         fake
		wantRT    bool
		wantArm   int // priority armed, 0 = none
		wantNice  int // nice obtained
		wantVia   string
		wantNote  string
		wantRTKit bool // RealtimeKit asked for SCHED_FIFO (never)
	}{
		{"privileged", fake{priv: true}, true, 60, -11, "setpriority", "SCHED_FIFO priority 60 while waiting via sched_setscheduler, SCHED_OTHER between waits at nice -11 via setpriority", false},
		{"limits.d file", fake{limit: 95, niceLimit: 31}, true, 60, -11, "setpriority", "at nice -11", false},
		{"rtprio clamped", fake{limit: 40, niceLimit: 31}, true, 40, -11, "setpriority", "clamped to RLIMIT_RTPRIO 40", false},
		{"nice clamped", fake{limit: 95, niceLimit: 25}, true, 60, -5, "setpriority", "nice -11 clamped to RLIMIT_NICE's -5", false},
		{"no rlimits: rtkit nice only", fake{rtkitMax: 99}, false, 0, -11, "rtkit", "RealtimeKit cannot give SCHED_FIFO for waits only", false},
		{"kernel refuses rise", fake{limit: 95, niceLimit: 31, armErr: unix.EPERM}, false, 0, -11, "setpriority", "sched_setscheduler(SCHED_FIFO, 60): operation not permitted", false},
		{"setpriority refused: rtkit", fake{limit: 95, niceLimit: 31, niceErr: unix.EACCES}, true, 60, -11, "rtkit", "setpriority(-11): permission denied", false},
		{"nothing at all", fake{rtkitNiceErr: errNoBus}, false, 0, 0, "", "normal priority (SCHED_OTHER), memory locked: RLIMIT_RTPRIO is 0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			r := promote(f.system(), Config{Priority: 60, WaitsOnly: true, Nice: DefaultNice, LockMemory: true})
			if r.Realtime != tt.wantRT || r.WaitsOnly != tt.wantRT || f.gotArm != tt.wantArm {
				t.Errorf("got %+v, armed %d", r, f.gotArm)
			}
			if r.Nice != tt.wantNice || r.NiceVia != tt.wantVia {
				t.Errorf("nice %d via %q, want %d via %q", r.Nice, r.NiceVia, tt.wantNice, tt.wantVia)
			}
			if f.fifoCalls != 0 || f.rtkitTid != 0 {
				t.Errorf("whole-thread SCHED_FIFO asked for (sched_setattr %d times, rtkit for thread %d)", f.fifoCalls, f.rtkitTid)
			}
			if s := r.String(); !strings.Contains(s, tt.wantNote) {
				t.Errorf("String() = %q, want it to mention %q", s, tt.wantNote)
			}
		})
	}
}

func TestPromoteZeroSkipsScheduling(t *testing.T) {
	f := fake{limit: 99}
	r := promote(f.system(), Config{})
	if f.fifoCalls != 0 || r.Realtime || r.Locked || len(r.Notes) != 0 {
		t.Fatalf("Config{} did something: %+v", r)
	}
}

// The real system: whatever this machine allows, Promote must say what it
// got, and the thread's policy must agree with it; Demote must undo it.
func TestPromoteReal(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := Promote(Config{Priority: 10})
	t.Logf("this machine: %s", r)
	pol, prio, err := Current()
	if err != nil {
		t.Fatal(err)
	}
	if r.Realtime != (pol == "SCHED_FIFO") || (r.Realtime && prio != r.Priority) {
		t.Fatalf("Promote said %s, thread is %s %d", r, pol, prio)
	}
	if r.Via == "sched_setattr" {
		a, err := unix.SchedGetAttr(0, 0)
		if err != nil || a.Flags&unix.SCHED_FLAG_RESET_ON_FORK == 0 {
			t.Fatalf("SCHED_FIFO without SCHED_FLAG_RESET_ON_FORK: %+v %v", a, err)
		}
	}
	if err := Demote(); err != nil {
		t.Fatal(err)
	}
	if pol, _, _ := Current(); pol != "SCHED_OTHER" {
		t.Fatalf("after Demote the thread is %s", pol)
	}
}

// The real system: an armed thread is SCHED_FIFO while it sleeps in
// SleepUntil and SCHED_OTHER at its nice level otherwise, and Demote puts
// the nice level back. Where this machine allows no real time, the waits
// must run at the thread's own priority.
func TestWaitsOnlyReal(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// A nice level of the thread's own, which Demote must give back (a
	// raise is always allowed; 0 would hide a reset to the default).
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 3); err != nil {
		t.Fatal(err)
	}
	before := niceOf(t, unix.Gettid())
	r := Promote(Config{Priority: 10, WaitsOnly: true, Nice: -3})
	t.Logf("this machine: %s", r)
	defer Demote()
	tid := unix.Gettid()
	if pol, _, _ := Current(); pol != "SCHED_OTHER" {
		t.Fatalf("after Promote the thread is %s outside its waits", pol)
	}
	if r.Nice != 0 && niceOf(t, tid) != r.Nice {
		t.Fatalf("Promote said nice %d, thread has %d", r.Nice, niceOf(t, tid))
	}
	if WaitsRealtime() != r.Priority {
		t.Fatalf("WaitsRealtime() = %d, Promote said %s", WaitsRealtime(), r)
	}
	seen := make(chan string)
	go func() {
		time.Sleep(40 * time.Millisecond) // the loop thread is asleep by now
		a, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			seen <- err.Error()
			return
		}
		seen <- fmt.Sprintf("policy %d priority %d", a.Policy, a.Priority)
	}()
	start := monotonicNow()
	woke := SleepUntil(start + int64(100*time.Millisecond))
	during := <-seen
	if woke < start+int64(100*time.Millisecond) {
		t.Fatalf("woke at %d, before the deadline %d", woke, start+int64(100*time.Millisecond))
	}
	want := fmt.Sprintf("policy %d priority 0", unix.SCHED_NORMAL)
	if r.Realtime {
		want = fmt.Sprintf("policy %d priority %d", unix.SCHED_FIFO, r.Priority)
	}
	if during != want {
		t.Errorf("during the sleep: %s, want %s", during, want)
	}
	if pol, _, _ := Current(); pol != "SCHED_OTHER" {
		t.Errorf("after the sleep the thread is %s", pol)
	}
	var fds [0]unix.PollFd
	if n, _, err := Poll(fds[:], int64(time.Millisecond)); n != 0 || err != nil {
		t.Errorf("Poll with no descriptors: %d, %v", n, err)
	}
	if pol, _, _ := Current(); pol != "SCHED_OTHER" {
		t.Errorf("after the poll the thread is %s", pol)
	}
	if err := Demote(); err != nil {
		t.Fatal(err)
	}
	if got := niceOf(t, tid); got != before {
		t.Errorf("after Demote the thread has nice %d, had %d", got, before)
	}
	if WaitsRealtime() != 0 {
		t.Errorf("after Demote the waits are still armed")
	}
}

func niceOf(t *testing.T, tid int) int {
	t.Helper()
	p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		t.Fatal(err)
	}
	return 20 - p // the raw system call returns 20-nice
}

func monotonicNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func TestRTKitWithoutBus(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/sgbridge-test-bus")
	if _, err := makeRealtimeRTKit(unix.Gettid(), 10); err == nil {
		t.Fatal("RealtimeKit call succeeded without a bus")
	} else if errors.Is(err, errNoBus) {
		t.Log("no bus detected up front")
	}
}

// The waits run every period on the interrupt loop: they must not
// allocate, armed or not.
func TestWaitsAllocateNothing(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := Promote(Config{Priority: 10, WaitsOnly: true})
	defer Demote()
	t.Logf("this machine: %s", r)
	fds := make([]unix.PollFd, 1)
	fds[0] = unix.PollFd{Fd: -1}
	var reg uint32 = 7
	if n := testing.AllocsPerRun(200, func() {
		SleepUntil(0)
		Poll(fds, 0)
		Watch(&reg, 6, 0)
	}); n != 0 {
		t.Fatalf("%v allocations per round of waits", n)
	}
	if _, _, moved := Watch(&reg, 7, 0); moved {
		t.Fatal("Watch saw a register move that did not")
	}
	if p, now, moved := Watch(&reg, 6, 0); !moved || p != 0 || now == 0 {
		t.Fatalf("Watch of a moved register: pending %d, now %d, moved %v", p, now, moved)
	}
}
