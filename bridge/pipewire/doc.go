// Package pipewire is sgbridge's native PipeWire sink: a pw_stream that
// shows up in the graph as an Audio/Source node (node.name, a human
// node.description, audio.position), fed from a ring.Ring in F32 planar by
// a process callback written in C that runs on PipeWire's real-time data
// thread and never enters Go (DESIGN.md, rule 1). It has its own
// pw_thread_loop.
//
// The callback takes the graph's rate and quantum from the io_position
// area and publishes the same ring timing as the JACK sink (cycle start and
// next cycle on CLOCK_MONOTONIC, period, graph frame counter, frames,
// rate), so the drift controller runs unchanged on either graph.
//
// Rate and Period are known after Open: Open connects to the daemon and
// reads the graph's clock from the "settings" metadata (clock.rate,
// clock.quantum, their min/max and force- overrides). The stream asks for
// that rate (node.rate), so the graph never resamples the bridge. Once the
// stream runs, Period is the quantum seen in the last cycle.
//
// When the daemon goes away the sink reports it once as an Event (Go side,
// never from the data thread), keeps its ring, so the engine keeps running
// and counts what overflows, and reconnects when the daemon returns; the
// first cycle after a reconnect drops the stale queue (sgb_ring_restart)
// so it does not become latency. Done closes only on a fatal error or
// Close.
package pipewire
