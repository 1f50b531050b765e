package monotime

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Now must be CLOCK_MONOTONIC itself, not a clock with another origin:
// its readings must fall between two system-call readings of it.
func TestNowIsClockMonotonic(t *testing.T) {
	for range 1000 {
		var a, b unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &a)
		n := Now()
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
		if n < a.Nano() || n > b.Nano() {
			t.Fatalf("Now() = %d, not between the system call's %d and %d", n, a.Nano(), b.Nano())
		}
	}
}

func TestNowDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(1000, func() { Now() }); n != 0 {
		t.Fatalf("Now allocates %v times per call", n)
	}
}

func BenchmarkNow(b *testing.B) {
	for b.Loop() {
		Now()
	}
}

func BenchmarkClockGettimeSyscall(b *testing.B) {
	var ts unix.Timespec
	for b.Loop() {
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	}
}
