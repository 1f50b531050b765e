package portaudio

import (
	"math"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BenchmarkWaitJitter runs Wait on a locked thread, SCHED_FIFO where
// permitted, as the engine does, and reports what the drift controller
// gets: the RMS deviation of the intervals between completions from
// their mean (a stamp's own jitter is that over √2), the worst one, and
// the process's CPU time per second of stream.
//
//	go test -run '^$' -bench WaitJitter -benchtime 400x ./device/portaudio
func BenchmarkWaitJitter(b *testing.B) {
	needPCMs(b)
	defer realtimeThread(b)()
	d := started(b, "sgfast", 256, 20)
	ts := make([]int64, 0, b.N+1)
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N + 1 {
		c, err := d.Wait()
		if err != nil {
			b.Fatal(err)
		}
		ts = append(ts, c.Time)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if len(ts) < 3 {
		return
	}
	mean := float64(ts[len(ts)-1]-ts[0]) / float64(len(ts)-1)
	var ss, worst float64
	for i := 1; i < len(ts); i++ {
		dev := float64(ts[i]-ts[i-1]) - mean
		ss += dev * dev
		worst = max(worst, math.Abs(dev))
	}
	b.ReportMetric(math.Sqrt(ss/float64(len(ts)-1))/1e3, "µs-rms-interval-dev")
	b.ReportMetric(worst/1e3, "µs-worst-interval-dev")
	b.ReportMetric(cpu.Seconds()/(float64(ts[len(ts)-1]-ts[0])/1e9)*100, "%cpu")
}

// realtimeThread locks the calling goroutine to its thread and makes that
// SCHED_FIFO where permitted, as the engine's interrupt loop is; the
// returned function undoes both.
func realtimeThread(t testing.TB) func() {
	runtime.LockOSThread()
	prio := int32(40) // struct sched_param
	if _, _, e := unix.Syscall(unix.SYS_SCHED_SETSCHEDULER, 0, 1, uintptr(unsafe.Pointer(&prio))); e != 0 {
		t.Logf("SCHED_FIFO: %v: measuring at normal priority", e)
		return runtime.UnlockOSThread
	}
	return func() {
		prio = 0
		unix.Syscall(unix.SYS_SCHED_SETSCHEDULER, 0, 0, uintptr(unsafe.Pointer(&prio)))
		runtime.UnlockOSThread()
	}
}
