// Package status serves a running bridge's statistics as JSON on a Unix
// socket and reads them back for `sgbridge status`.
//
// The protocol is the simplest that works with socat and nc -U: a client
// connects, the server writes one JSON document and a newline, and closes.
// The socket lives in $XDG_RUNTIME_DIR/sgbridge/NAME.sock (the directory
// 0700, the socket 0600), so only the user running the bridge can read it.
package status
