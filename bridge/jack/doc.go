// Package jack is sgbridge's own small binding of libjack: a client whose
// ports NAME:capture_1..N are fed from a ring.Ring by a process callback
// written in C, which never enters Go (DESIGN.md, rule 1). Go opens the
// client, registers the ports, reports the capture latency, connects the
// ports on request and learns about xruns and a server shutdown from
// counters and a pipe the C callbacks write.
//
// With Config.Reconnect a shutdown is not the end: the client closes what
// the server dropped, tries the server again every ReconnectInterval,
// and on its return registers the same ports, feeds them from the same
// ring (the first cycle drops what queued up meanwhile, so the wait does
// not become latency) and reconnects them as Connect last asked. A server
// that returns at another sample rate ends the client: the ring, the
// device and the drift controller were set up for the old one.
//
// libjack itself can hang closing a client a dead server dropped (jack2
// issue 395, a few times in a thousand server deaths here), and the hung
// close holds the lock every later open takes: that process can never
// join a server again. So every open and close runs on its own goroutine,
// bounded by CloseTimeout; a hang ends the client with ErrShutdown naming
// it, and the caller exits for a supervisor to start it afresh.
package jack
