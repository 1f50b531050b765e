package pipewire

/*
#cgo CFLAGS: -I${SRCDIR}/../ring -O2 -Wall -Wno-unused-function
#cgo pkg-config: libpipewire-0.3
#include <stdlib.h>
#include "sgb_pw.h"

// cgo cannot call the __atomic builtins.
static uint64_t load_u64(uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static uint32_t load_u32(uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static void store_int(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/bridge/ring"
)

// MaxChannels is the most channels one node carries.
const MaxChannels = C.SGB_PW_MAX_CHANNELS

// ReconnectInterval is how often a sink whose daemon went away tries to
// reach it again.
const ReconnectInterval = 250 * time.Millisecond

var (
	// ErrNoServer is wrapped by Open's error when no PipeWire daemon
	// answers at the socket.
	ErrNoServer = errors.New("no PipeWire daemon")
	// ErrStream is wrapped by Err when PipeWire failed the stream.
	ErrStream = errors.New("PipeWire stream failed")
	// ErrClosed is returned by Err after Close.
	ErrClosed = errors.New("PipeWire sink closed")
)

// Config names the node and sets its latency.
type Config struct {
	Name        string   // node.name (and the stream's name)
	Description string   // node.description, shown by desktops; "" = Name
	Positions   []string // audio.position per channel; nil = DefaultPositions
	// Latency is the quantum to ask the graph for (node.latency), in
	// frames; 0 asks for nothing and the graph keeps its default.
	Latency int
	// Log receives the sink's events (daemon gone, reconnected, stream
	// failed) as they are also sent on Events; nil logs nothing.
	Log *slog.Logger
}

// EventKind says what happened to the sink.
type EventKind int

const (
	Streaming    EventKind = iota + 1 // the stream runs (first time or after a reconnect)
	Disconnected                      // the daemon went away; the sink waits for it
	Reconnected                       // the daemon is back and the stream is connected again
	Failed                            // fatal: Done is closed
)

func (k EventKind) String() string {
	switch k {
	case Streaming:
		return "streaming"
	case Disconnected:
		return "disconnected"
	case Reconnected:
		return "reconnected"
	case Failed:
		return "failed"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one change in the sink's connection, for logs.
type Event struct {
	Time time.Time
	Kind EventKind
	Msg  string
}

// Stats are the sink's counters.
type Stats struct {
	Cycles         uint64 // process callbacks run
	NoBuffer       uint64 // cycles PipeWire had no free buffer for us (counted as xruns)
	Published      uint64 // cycles that published timing
	Reconnects     uint64 // times the sink came back after the daemon went away
	Connected      bool   // connected to a daemon now
	Rate           int    // graph rate seen in the last cycle (0 before the first)
	Quantum        int    // graph quantum seen in the last cycle
	UnderrunEvents uint64 // from the ring
	UnderrunFrames uint64
}

// Sink is one PipeWire Audio/Source node. Its methods may be called from
// any goroutine but not after Close, except Done, Err, Events and Stats.
type Sink struct {
	p         *C.struct_sgb_pw // C memory: the callbacks hold it
	cfg       Config
	log       *slog.Logger
	positions []uint32
	rate      int // graph rate from the settings at (re)connect
	quantum   int // expected quantum until a cycle tells

	wakeR  *os.File
	wakeW  int
	events chan Event
	quit   chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup

	life  sync.RWMutex // held for reading while p is used outside mu; Close frees p under it
	final Stats        // the counters at Close

	mu         sync.Mutex // serialises the control calls into C
	ring       *ring.Ring
	latency    int
	connected  bool
	reconnects uint64
	err        error
	closed     bool
}

// SocketPath is where libpipewire looks for the daemon:
// $PIPEWIRE_RUNTIME_DIR or $XDG_RUNTIME_DIR, then $PIPEWIRE_REMOTE or
// "pipewire-0".
func SocketPath() string {
	dir := os.Getenv("PIPEWIRE_RUNTIME_DIR")
	if dir == "" {
		dir = os.Getenv("XDG_RUNTIME_DIR")
	}
	name := os.Getenv("PIPEWIRE_REMOTE")
	if name == "" {
		name = "pipewire-0"
	}
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
}

// Available reports whether a PipeWire daemon accepts connections at
// SocketPath; `--sink auto` uses it to choose PipeWire over JACK.
func Available() bool {
	c, err := net.DialTimeout("unix", SocketPath(), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func noServer() error {
	where := SocketPath()
	if os.Getenv("PIPEWIRE_RUNTIME_DIR") == "" && os.Getenv("PIPEWIRE_REMOTE") == "" {
		where = "$XDG_RUNTIME_DIR/pipewire-0 (" + where + ")"
	}
	return fmt.Errorf("%w at %s: start one or use --sink jack", ErrNoServer, where)
}

// Open connects to a running PipeWire daemon and learns the graph's rate
// and quantum from its settings; the node appears at Start.
func Open(cfg Config) (*Sink, error) {
	if cfg.Name == "" {
		return nil, errors.New("pipewire: empty node name")
	}
	if cfg.Description == "" {
		cfg.Description = cfg.Name
	}
	if cfg.Latency < 0 {
		return nil, fmt.Errorf("pipewire: negative latency %d", cfg.Latency)
	}
	if !Available() {
		return nil, fmt.Errorf("pipewire: %w", noServer())
	}
	var fds [2]int
	// Non-blocking both ways: the callbacks must never block on the
	// pipe, and the read end goes to Go's poller.
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("pipewire: pipe: %w", err)
	}
	p := C.sgb_pw_new(C.int(fds[1]))
	if p == nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, errors.New("pipewire: cannot create the thread loop and context")
	}
	s := &Sink{
		p:      p,
		cfg:    cfg,
		log:    cfg.Log,
		wakeR:  os.NewFile(uintptr(fds[0]), "pipewire-events"),
		wakeW:  fds[1],
		events: make(chan Event, 16),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if rc := C.sgb_pw_connect(p, 5); rc != 0 {
		s.free()
		if rc == -C.ECONNREFUSED || rc == -C.ENOENT || rc == -C.EPIPE {
			return nil, fmt.Errorf("pipewire: %w", noServer())
		}
		return nil, fmt.Errorf("pipewire: connect to %s: %w", SocketPath(), unix.Errno(-rc))
	}
	s.readSettings()
	s.connected = true
	s.wg.Add(1)
	go s.watch()
	return s, nil
}

func (s *Sink) free() {
	C.sgb_pw_free(s.p)
	s.p = nil
	unix.Close(s.wakeW)
	s.wakeR.Close()
}

// readSettings takes the graph clock from the settings metadata read at
// connect: the forced rate or quantum when set, else the defaults; the
// quantum we will get is our node.latency request, clamped as the graph
// clamps it.
func (s *Sink) readSettings() {
	C.sgb_pw_lock(s.p)
	p := s.p
	rate, q := int(p.clock_rate), int(p.clock_quantum)
	if p.force_rate != 0 {
		rate = int(p.force_rate)
	}
	minQ, maxQ, force := int(p.min_quantum), int(p.max_quantum), int(p.force_quantum)
	C.sgb_pw_unlock(s.p)
	if rate == 0 {
		rate = 48000 // PipeWire's built-in default
	}
	if q == 0 {
		q = 1024
	}
	if s.cfg.Latency > 0 {
		q = s.cfg.Latency
	}
	if minQ > 0 && q < minQ {
		q = minQ
	}
	if maxQ > 0 && q > maxQ {
		q = maxQ
	}
	if force != 0 {
		q = force
	}
	s.rate, s.quantum = rate, q
}

// Name is the node name.
func (s *Sink) Name() string { return s.cfg.Name }

// Rate is the graph's sample rate.
func (s *Sink) Rate() int { return s.rate }

// Period is the graph's quantum: the one seen in the last cycle once the
// stream runs, the settings' before.
func (s *Sink) Period() int {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.p == nil {
		return s.final.Quantum
	}
	if q := int(C.load_u32(&s.p.quantum)); q > 0 {
		return q
	}
	return s.quantum
}

// Positions are the channel positions the node announces (after Start).
func (s *Sink) Positions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring == nil {
		return nil
	}
	return s.positionNames(s.ring.Channels())
}

func (s *Sink) positionNames(channels int) []string {
	if s.cfg.Positions != nil {
		return append([]string(nil), s.cfg.Positions...)
	}
	return DefaultPositions(channels)
}

// Start creates the node with one channel per ring channel and starts
// draining r. r must outlive the sink: close it after Close.
func (s *Sink) Start(r *ring.Ring) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring != nil {
		return errors.New("pipewire: sink already started")
	}
	n := r.Channels()
	if n < 1 || n > MaxChannels {
		return fmt.Errorf("pipewire: %d channels, want 1..%d", n, MaxChannels)
	}
	names := s.positionNames(n)
	if len(names) != n {
		return fmt.Errorf("pipewire: %d positions (%s) for %d channels", len(names), strings.Join(names, ","), n)
	}
	s.positions = make([]uint32, n)
	for i, name := range names {
		id, err := channelID(name)
		if err != nil {
			return fmt.Errorf("pipewire: %w", err)
		}
		s.positions[i] = id
	}
	props := [][2]string{
		{"media.type", "Audio"},
		{"media.category", "Capture"},
		{"media.role", "Production"},
		{"media.class", "Audio/Source"},
		{"node.name", s.cfg.Name},
		{"node.description", s.cfg.Description},
		{"node.nick", s.cfg.Name},
		{"media.name", s.cfg.Description},
		{"application.name", "sgbridge"},
		{"audio.channels", strconv.Itoa(n)},
		{"audio.position", strings.Join(names, ",")},
		// Our rate is the graph's: ask the graph to stay there, so
		// nothing between us and the graph resamples.
		{"node.rate", "1/" + strconv.Itoa(s.rate)},
		// A source with no consumer still runs, so the timing and the
		// drift estimate never stop.
		{"node.always-process", "true"},
	}
	if s.cfg.Latency > 0 {
		props = append(props, [2]string{"node.latency", fmt.Sprintf("%d/%d", s.cfg.Latency, s.rate)})
	}
	for _, kv := range props {
		k, v := C.CString(kv[0]), C.CString(kv[1])
		C.sgb_pw_prop(s.p, k, v)
		C.free(unsafe.Pointer(k))
		C.free(unsafe.Pointer(v))
	}
	s.ring = r
	if err := s.startStream(); err != nil {
		s.ring = nil
		return err
	}
	return nil
}

// startStream (re)creates the stream on the current connection; s.mu held.
func (s *Sink) startStream() error {
	rc := C.sgb_pw_stream_start(s.p, (*C.struct_sgb_ring)(s.ring.Header()), C.uint32_t(s.rate),
		(*C.uint32_t)(unsafe.Pointer(&s.positions[0])), C.uint32_t(len(s.positions)))
	if rc < 0 {
		return fmt.Errorf("pipewire: connect stream %s: %w", s.cfg.Name, unix.Errno(-rc))
	}
	if s.latency > 0 {
		C.sgb_pw_set_latency(s.p, C.uint32_t(s.latency))
	}
	return nil
}

// SetLatency reports the node's capture latency, in frames: the queue's
// real delay. It is kept and reported again after a reconnect.
func (s *Sink) SetLatency(frames int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = max(frames, 0)
	if s.ring != nil && s.connected {
		C.sgb_pw_set_latency(s.p, C.uint32_t(s.latency))
	}
}

// Xruns counts cycles in which PipeWire had no buffer for the node.
func (s *Sink) Xruns() uint64 {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.p == nil {
		return s.final.NoBuffer
	}
	return uint64(C.load_u64(&s.p.no_buffer))
}

// Stats returns the sink's counters and the ring's underruns.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return s.final
	}
	st := Stats{
		Cycles:     uint64(C.load_u64(&s.p.cycles)),
		NoBuffer:   uint64(C.load_u64(&s.p.no_buffer)),
		Published:  uint64(C.load_u64(&s.p.published)),
		Reconnects: s.reconnects,
		Connected:  s.connected,
		Rate:       int(C.load_u32(&s.p.rate)),
		Quantum:    int(C.load_u32(&s.p.quantum)),
	}
	if s.ring != nil {
		rs := s.ring.Stats()
		st.UnderrunEvents, st.UnderrunFrames = rs.UnderrunEvents, rs.UnderrunFrames
	}
	return st
}

// Events delivers the sink's connection changes. It is buffered; events
// nobody reads in time are dropped (they are logged through Config.Log
// either way).
func (s *Sink) Events() <-chan Event { return s.events }

// Done is closed when the sink failed for good or Close ran; a daemon
// that goes away does not close it.
func (s *Sink) Done() <-chan struct{} { return s.done }

// Err is nil while the sink runs; after Done it wraps ErrStream, or is
// ErrClosed.
func (s *Sink) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Sink) emit(kind EventKind, msg string, args ...any) {
	if s.log != nil {
		lvl := slog.LevelInfo
		if kind == Disconnected || kind == Failed {
			lvl = slog.LevelWarn
		}
		s.log.Log(context.Background(), lvl, msg, append([]any{"node", s.cfg.Name, "event", kind.String()}, args...)...)
	}
	select {
	case s.events <- Event{Time: time.Now(), Kind: kind, Msg: msg}:
	default:
	}
}

func (s *Sink) message() string {
	var buf [C.SGB_PW_MSG]C.char
	C.sgb_pw_message(s.p, &buf[0], C.size_t(len(buf)))
	return C.GoString(&buf[0])
}

// watch turns the callbacks' event bytes into Events, reconnects after the
// daemon went away and closes Done on a fatal error.
func (s *Sink) watch() {
	defer s.wg.Done()
	bytes := make(chan byte, 64)
	go func() { // ends when Close closes the write end
		defer close(bytes)
		var b [64]byte
		for {
			n, err := s.wakeR.Read(b[:])
			for _, c := range b[:n] {
				bytes <- c
			}
			if err != nil {
				return
			}
		}
	}()
	streaming := false
	for {
		var ev byte
		select {
		case <-s.quit:
			return
		case c, ok := <-bytes:
			if !ok {
				return
			}
			ev = c
		}
		switch ev {
		case C.SGB_PW_EV_STREAMING:
			if !streaming {
				streaming = true
				s.emit(Streaming, "PipeWire node streaming", "rate", s.rate, "quantum", s.Period())
			}
		case C.SGB_PW_EV_CORE_GONE:
			streaming = false
			if !s.reconnect(bytes) {
				return
			}
		case C.SGB_PW_EV_STREAM_ERROR:
			// A stream error also follows a lost daemon; only one
			// without a lost connection is fatal.
			if s.coreGoneSoon(bytes) {
				streaming = false
				if !s.reconnect(bytes) {
					return
				}
				continue
			}
			msg := s.message()
			s.fail(fmt.Errorf("pipewire: node %s: %w: %s", s.cfg.Name, ErrStream, msg))
			return
		case C.SGB_PW_EV_CORE_ERROR:
			if s.log != nil {
				s.log.Warn("PipeWire reported an error", "node", s.cfg.Name, "err", s.message())
			}
		}
	}
}

// coreGoneSoon waits briefly for the connection-lost event that a stream
// error caused by a vanished daemon comes with.
func (s *Sink) coreGoneSoon(bytes <-chan byte) bool {
	if C.load_u32((*C.uint32_t)(unsafe.Pointer(&s.p.core_gone))) != 0 {
		return true
	}
	t := time.NewTimer(300 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case c := <-bytes:
			if c == C.SGB_PW_EV_CORE_GONE {
				return true
			}
		case <-t.C:
			return C.load_u32((*C.uint32_t)(unsafe.Pointer(&s.p.core_gone))) != 0
		case <-s.quit:
			return false
		}
	}
}

// reconnect drops the dead connection, says so once, and tries every
// ReconnectInterval until the daemon answers and the stream is back. It
// returns false when the sink is closing or failed.
func (s *Sink) reconnect(bytes <-chan byte) bool {
	s.mu.Lock()
	s.connected = false
	C.sgb_pw_disconnect(s.p)
	s.mu.Unlock()
	s.emit(Disconnected, "PipeWire daemon gone; the device keeps running and its audio is dropped until the daemon returns",
		"socket", SocketPath())
	since := time.Now()
	t := time.NewTicker(ReconnectInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return false
		case <-bytes: // stale events of the dead connection
			continue
		case <-t.C:
		}
		if !Available() {
			continue
		}
		s.mu.Lock()
		if C.sgb_pw_connect(s.p, 2) != 0 {
			s.mu.Unlock()
			continue
		}
		rate := s.rate
		s.readSettings()
		if s.rate != rate {
			// The ring is sized and the device opened for the old rate;
			// the engine must start over.
			s.mu.Unlock()
			s.fail(fmt.Errorf("pipewire: node %s: the daemon came back at %d Hz, was %d Hz: %w", s.cfg.Name, s.rate, rate, ErrStream))
			return false
		}
		var err error
		if s.ring != nil {
			// The first cycle of the new stream drops what queued up
			// while we were away.
			C.store_int(&s.p.restart, 1)
			err = s.startStream()
		}
		if err != nil {
			C.sgb_pw_disconnect(s.p)
			s.mu.Unlock()
			continue
		}
		s.connected = true
		s.reconnects++
		n := s.reconnects
		s.mu.Unlock()
		s.emit(Reconnected, "PipeWire daemon is back; node reconnected",
			"away", time.Since(since).Round(time.Millisecond).String(), "reconnects", n)
		return true
	}
}

func (s *Sink) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.emit(Failed, "PipeWire sink failed", "err", err)
	close(s.done)
}

// Close destroys the stream and disconnects; after it returns no callback
// touches the ring any more.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
	default:
		s.err = ErrClosed
		close(s.done)
	}
	s.connected = false
	final := Stats{
		Cycles:     uint64(C.load_u64(&s.p.cycles)),
		NoBuffer:   uint64(C.load_u64(&s.p.no_buffer)),
		Published:  uint64(C.load_u64(&s.p.published)),
		Reconnects: s.reconnects,
		Rate:       int(C.load_u32(&s.p.rate)),
		Quantum:    s.quantum,
	}
	if q := int(C.load_u32(&s.p.quantum)); q > 0 {
		final.Quantum = q
	}
	if s.ring != nil { // the ring outlives the sink
		rs := s.ring.Stats()
		final.UnderrunEvents, final.UnderrunFrames = rs.UnderrunEvents, rs.UnderrunFrames
	}
	s.life.Lock()
	s.free()
	s.final = final
	s.life.Unlock()
	return nil
}
