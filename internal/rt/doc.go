// Package rt asks for real-time scheduling for the calling OS thread (the
// interrupt loop, after runtime.LockOSThread), and owns the waits that use
// it.
//
// A whole thread can be made SCHED_FIFO (sched_setattr with
// SCHED_FLAG_RESET_ON_FORK, so a child never inherits it, clamped to
// RLIMIT_RTPRIO, RealtimeKit over D-Bus when the kernel refuses): the
// emulator's DMA clock does that. The interrupt loop instead arms
// SCHED_FIFO for its waits only (Config.WaitsOnly): SleepUntil, Poll and
// Watch are C functions that rise to SCHED_FIFO, block or spin, stamp the
// wake-up, and step down to SCHED_OTHER before they return, because Go
// code at SCHED_FIFO can spin in the runtime against a normal-priority
// garbage collector (sgb_rt.c says how). Between waits the thread runs at
// a raised nice level. mlockall keeps the loop from faulting.
//
// Real time is asked for, never required: Promote always returns a Result
// that says what was obtained and why not, for the caller to log once.
package rt
