// Package pwtest starts private, headless PipeWire daemons with a
// WirePlumber session manager for tests and tools: each in its own
// XDG_RUNTIME_DIR, configuration and state directories, with D-Bus switched
// off (support.dbus = false and WirePlumber fragments that disable its
// D-Bus users), driven by PipeWire's stock Dummy-Driver so the graph runs
// without hardware. A user's own PipeWire is never seen or touched.
//
// The daemon can be stopped, killed and restarted under the same socket, to
// test clients that must ride out a server restart.
package pwtest
