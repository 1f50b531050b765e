package rt

// #include "sgb_rt.h"
import "C"

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// SleepUntil sleeps until CLOCK_MONOTONIC reaches t ns and returns the
// time it woke. On a thread Promote armed with WaitsOnly it sleeps at
// SCHED_FIFO and is back at SCHED_OTHER when it returns; on any other
// thread it sleeps at the thread's own priority. It allocates nothing.
func SleepUntil(t int64) int64 { return int64(C.sgb_rt_sleep_until(C.int64_t(t))) }

// Poll is ppoll(2) with a timeout in ns (negative: none), at SCHED_FIFO
// on an armed thread as SleepUntil is. It returns the number of ready
// descriptors and the time the thread woke, read before it stepped down.
func Poll(fds []unix.PollFd, timeout int64) (n int, woke int64, err error) {
	var p *C.struct_pollfd
	if len(fds) > 0 {
		p = (*C.struct_pollfd)(unsafe.Pointer(&fds[0]))
	}
	w := C.sgb_rt_poll(p, C.int(len(fds)), C.int64_t(timeout))
	if w.ret < 0 {
		return 0, int64(w.stamp), unix.Errno(-w.ret)
	}
	return int(w.ret), int64(w.stamp), nil
}

// WaitsRealtime reports the SCHED_FIFO priority the calling thread's
// waits run at, 0 when they run at its own priority.
func WaitsRealtime() int { return int(C.sgb_rt_armed()) }

// Watch reads the 32-bit device register at reg back to back until it no
// longer holds value or CLOCK_MONOTONIC passes until, at SCHED_FIFO on an
// armed thread. It returns the start of the last look that still saw
// value (0 if none did), the end of the last look, and whether the
// register moved: the bracket of the move (device/stamp).
func Watch(reg *uint32, value uint32, until int64) (pending, now int64, moved bool) {
	l := C.sgb_rt_watch((*C.uint32_t)(unsafe.Pointer(reg)), C.uint32_t(value), C.int64_t(until))
	return int64(l.pending), int64(l.now), l.moved != 0
}
