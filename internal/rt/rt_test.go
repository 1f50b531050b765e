package rt

import (
	"errors"
	"runtime"
	"strings"
	"testing"

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

func TestRTKitWithoutBus(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/sgbridge-test-bus")
	if _, err := makeRealtimeRTKit(unix.Gettid(), 10); err == nil {
		t.Fatal("RealtimeKit call succeeded without a bus")
	} else if errors.Is(err, errNoBus) {
		t.Log("no bus detected up front")
	}
}
