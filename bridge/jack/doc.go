// Package jack is sgbridge's own small binding of libjack: a client whose
// ports NAME:capture_1..N are fed from a ring.Ring by a process callback
// written in C, which never enters Go (DESIGN.md, rule 1). Go opens the
// client, registers the ports, reports the capture latency, connects the
// ports on request and learns about xruns and a server shutdown from
// counters and a pipe the C callbacks write.
package jack
