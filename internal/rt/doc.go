// Package rt asks for real-time scheduling for the calling OS thread (the
// interrupt loop, after runtime.LockOSThread): SCHED_FIFO through
// sched_setattr with SCHED_FLAG_RESET_ON_FORK (so a child process never
// inherits it), the priority clamped to RLIMIT_RTPRIO, RealtimeKit over
// D-Bus when the kernel refuses, and mlockall so the loop does not fault.
//
// Real time is asked for, never required: Promote always returns a Result
// that says what was obtained and why not, for the caller to log once.
package rt
