// Package bridge is sgbridge's engine: it runs the interrupt loop that
// moves each completed SG buffer, converted to float32, into the lock-free
// ring that a sink's C process callback drains, and it owns the lifecycle
// around it (start-up pre-fill, latency report, statistics, stop).
//
// The loop runs on its own locked OS thread and allocates nothing once
// started; the sink's real-time thread never runs Go. Sub-packages hold
// the ring (bridge/ring) and the sinks (bridge/jack, ...).
package bridge
