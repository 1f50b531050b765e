package jack

/*
#cgo CFLAGS: -I${SRCDIR}/../ring -O2 -Wall
#cgo pkg-config: jack
#include <errno.h>
#include <stdlib.h>
#include "sgb_jack.h"

// cgo cannot call the __atomic builtins.
static uint64_t load_u64(uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static uint32_t load_u32(uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static void store_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static int load_acquire_int(int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void store_int(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/bridge/ring"
	"github.com/sgbridge/sgbridge/internal/jacklog"
)

// MaxPorts is the most capture ports one client registers.
const MaxPorts = C.SGB_JACK_MAX_PORTS

var (
	// ErrNoServer is wrapped by Open's error when no JACK server answers.
	ErrNoServer = errors.New("no JACK server running")
	// ErrShutdown is wrapped by Err when the server shut the client down.
	ErrShutdown = errors.New("JACK server shut the client down")
	// ErrClosed is returned by Err after Close.
	ErrClosed = errors.New("JACK client closed")
)

// ReconnectInterval is how often a client whose server went away tries to
// reach it again (Config.Reconnect).
const ReconnectInterval = 250 * time.Millisecond

// CloseTimeout is how long the Client waits for libjack to open or close
// a client. libjack can hang in jack_client_close for good (jack2 issue
// 395: after a server shutdown it waits on a lock its own client thread
// holds), and the hung close keeps the lock every jack_client_open takes:
// a process in that state can never join a server again. So the Client
// ends with an error a supervisor can act on instead of waiting forever.
const CloseTimeout = 5 * time.Second

// Config says which server to join and how to name the ports.
type Config struct {
	Name       string // client name; JACK may append a suffix if taken
	Server     string // "" = $JACK_DEFAULT_SERVER or "default"
	PortPrefix string // port names are PortPrefix + 1..N; "" = "capture_"
	// Reconnect keeps a started client alive across a server restart:
	// when the server goes away the client says so and tries every
	// ReconnectInterval; when it is back the same ports are registered
	// again, fed from the same ring (what queued up meanwhile is
	// dropped) and connected as Connect last asked. Without it, or when
	// the server comes back at another sample rate, Done is closed.
	Reconnect bool
	// Log receives the reconnect messages; nil logs nothing.
	Log *slog.Logger
}

// Stats are the client's counters.
type Stats struct {
	Xruns          uint64 // xruns the server reported
	Cycles         uint64 // process callbacks run
	UnderrunEvents uint64 // from the ring: cycles short of data after start
	UnderrunFrames uint64 // from the ring: frames replaced by silence
	Reconnects     uint64 // times the client came back after the server went away
}

// Client is one JACK client. Its methods may be called from any goroutine
// but not concurrently with or after Close, except Done and Err.
type Client struct {
	j     *C.struct_sgb_jack // C memory: the callbacks hold it
	cfg   Config
	rate  int
	wakeR *os.File
	wakeW int
	quit  chan struct{} // closed by Close: stops a reconnect
	done  chan struct{}

	mu         sync.Mutex // guards what follows and j.client, which a reconnect replaces
	name       string
	ring       *ring.Ring
	ports      []string // our full port names
	connect    []string // the patterns Connect last got, for a reconnect
	reconnects atomic.Uint64
	err        error
	closed     bool
	// hung: libjack never returned from closing a client, and its
	// threads may still hold j.
	hung atomic.Bool
	// beforeClose, when set (tests), runs before a reconnect closes the
	// dropped client, on the goroutine that closes it: a test stands in
	// libjack's hang with it.
	beforeClose func()
}

// serverName is what the user would call the server in a message.
func serverName(s string) string {
	if s != "" {
		return s
	}
	if env := os.Getenv("JACK_DEFAULT_SERVER"); env != "" {
		return env
	}
	return "default"
}

// Open connects to a running JACK server; it never starts one.
func Open(cfg Config) (*Client, error) {
	if cfg.Name == "" {
		return nil, errors.New("jack: empty client name")
	}
	if cfg.PortPrefix == "" {
		cfg.PortPrefix = "capture_"
	}
	if srv := serverName(cfg.Server); cfg.Name == srv {
		// jackd2 1.9.21's libjack names a client's socket after the
		// server and the client: with both names equal it unlinks the
		// server's own socket, and no client can reach the server again.
		return nil, fmt.Errorf("jack: client name %q is the JACK server's name: libjack would remove the server's socket; pick another --name", cfg.Name)
	}
	jacklog.Quiet()

	var p [2]int
	// Non-blocking both ways: the shutdown callback must never block on
	// the pipe, and the read end goes to Go's poller.
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("jack: pipe: %w", err)
	}
	j := (*C.struct_sgb_jack)(C.calloc(1, C.sizeof_struct_sgb_jack))
	j.wake_fd = C.int(p[1])

	fail := func(err error) (*Client, error) {
		unix.Close(p[0])
		unix.Close(p[1])
		C.free(unsafe.Pointer(j))
		return nil, err
	}
	client, status, ok := openWithin(cfg.Name, serverName(cfg.Server))
	if !ok {
		return fail(fmt.Errorf("jack: open client %s on server %q: %w", cfg.Name, serverName(cfg.Server), errOpenHung))
	}
	j.client = client
	if j.client == nil {
		st := int(status)
		if st&C.JackServerFailed != 0 || st&C.JackServerError != 0 {
			return fail(fmt.Errorf("jack: open client %q: %w: server %q is not reachable; start one (for example `jackd -d dummy`) or pick another with --jack-server",
				cfg.Name, ErrNoServer, serverName(cfg.Server)))
		}
		return fail(fmt.Errorf("jack: open client %q on server %q: %s (status %#x)%s",
			cfg.Name, serverName(cfg.Server), statusText(st), st, detail()))
	}
	c := &Client{
		j:     j,
		cfg:   cfg,
		name:  C.GoString(C.jack_get_client_name(j.client)),
		rate:  int(C.jack_get_sample_rate(j.client)),
		wakeR: os.NewFile(uintptr(p[0]), "jack-shutdown"),
		wakeW: p[1],
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	j.rate = C.uint32_t(c.rate)
	j.clock_raw = C.sgb_jack_detect_clock()
	if filteredCycleTimes(LibraryVersion()) {
		j.filtered = 1
	}
	j.period = C.uint32_t(C.jack_get_buffer_size(j.client))
	if rc := C.sgb_jack_set_callbacks(j); rc != 0 {
		c.Close()
		return nil, fmt.Errorf("jack: set callbacks (%d)%s", int(rc), detail())
	}
	go c.watch()
	return c, nil
}

func detail() string {
	if e := jacklog.LastError(); e != "" {
		return ": " + e
	}
	return ""
}

// statusText names the bits of a jack_status_t.
func statusText(st int) string {
	var s []string
	for _, b := range []struct {
		bit  int
		text string
	}{
		{C.JackFailure, "failure"},
		{C.JackInvalidOption, "invalid option"},
		{C.JackNameNotUnique, "client name not unique"},
		{C.JackServerStarted, "server started"},
		{C.JackServerFailed, "cannot connect to server"},
		{C.JackServerError, "server communication error"},
		{C.JackNoSuchClient, "no such client"},
		{C.JackLoadFailure, "cannot load internal client"},
		{C.JackInitFailure, "cannot initialize client"},
		{C.JackShmFailure, "cannot access shared memory"},
		{C.JackVersionError, "protocol version mismatch"},
		{C.JackBackendError, "backend error"},
		{C.JackClientZombie, "client zombified"},
	} {
		if st&b.bit != 0 {
			s = append(s, b.text)
		}
	}
	if len(s) == 0 {
		return "unknown error"
	}
	return strings.Join(s, ", ")
}

// watch turns the shutdown callback's pipe write (or the pipe's closing in
// Close) into Done and Err, or into a reconnect.
func (c *Client) watch() {
	var b [1]byte
	for {
		n, _ := c.wakeR.Read(b[:]) // blocks in the poller, not on a thread
		shutdown := n == 1 && C.load_acquire_int(&c.j.shutdown) != 0
		c.mu.Lock()
		if shutdown {
			reason := strings.TrimSpace(C.GoString(&c.j.reason[0]))
			if reason == "" {
				reason = "no reason given"
			}
			if c.cfg.Reconnect && c.ring != nil && !c.closed {
				c.mu.Unlock()
				if c.reconnect(reason) {
					continue
				}
				c.mu.Lock()
				if c.err == nil {
					c.err = ErrClosed
				}
				c.mu.Unlock()
				close(c.done)
				return
			}
			c.err = fmt.Errorf("jack: server %q: %w: %s", serverName(c.cfg.Server), ErrShutdown, reason)
		} else if c.err == nil {
			c.err = ErrClosed
		}
		c.mu.Unlock()
		close(c.done)
		return
	}
}

// reconnect closes the client the server dropped, says so once, and tries
// every ReconnectInterval until the server answers and the client is back.
// It returns false when Close stopped it or the server came back at
// another rate (Err says so).
func (c *Client) reconnect(reason string) bool {
	c.mu.Lock()
	client, before := c.j.client, c.beforeClose
	c.j.client = nil
	c.mu.Unlock()
	if !c.closeDropped(client, before) {
		return false
	}
	c.logf(slog.LevelWarn, "JACK server gone; the device keeps running and its audio is dropped until the server returns",
		"reason", reason)
	since := time.Now()
	t := time.NewTicker(ReconnectInterval)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return false
		case <-t.C:
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return false
		}
		err := c.reopen()
		if err != nil {
			fatal := errors.Is(err, errRate) || errors.Is(err, errOpenHung)
			if fatal {
				c.err = err
			}
			c.mu.Unlock()
			if fatal {
				c.logf(slog.LevelError, "cannot rejoin the JACK server; stopping", "err", err)
				return false
			}
			continue
		}
		n, patterns := c.reconnects.Add(1), c.connect
		c.mu.Unlock()
		if len(patterns) > 0 {
			if err := c.Connect(patterns); err != nil {
				c.logf(slog.LevelWarn, "auto-connect after the reconnect failed", "err", err)
			}
		}
		c.logf(slog.LevelInfo, "JACK server is back; client reconnected",
			"away", time.Since(since).Round(time.Millisecond).String(), "reconnects", n)
		return true
	}
}

// closeDropped closes the client a dead server dropped (after a shutdown
// jack_client_close only frees: no callback runs) and reports whether
// libjack returned within CloseTimeout. If it did not, Err says why the
// Client ended.
func (c *Client) closeDropped(client *C.jack_client_t, before func()) bool {
	if _, ok := c.closeWithin(client, before); ok {
		return true
	}
	err := fmt.Errorf("jack: server %q: %w: libjack did not return from closing the client the server dropped within %v (jack2 issue 395); this process cannot open another client",
		serverName(c.cfg.Server), ErrShutdown, CloseTimeout)
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	c.logf(slog.LevelError, "JACK server gone and libjack hung closing our client; stopping so a supervisor can restart sgbridge", "err", err)
	return false
}

// closeWithin runs jack_client_close on its own goroutine and returns
// its result and whether it returned within CloseTimeout. If it did not,
// the close goes on on its own thread and the Client keeps j for it
// (hung).
func (c *Client) closeWithin(client *C.jack_client_t, before func()) (rc int, ok bool) {
	closed := make(chan int, 1)
	go func() {
		if before != nil {
			before()
		}
		closed <- int(C.jack_client_close(client))
	}()
	t := time.NewTimer(CloseTimeout)
	defer t.Stop()
	select {
	case rc = <-closed:
		return rc, true
	case <-t.C:
	}
	c.hung.Store(true)
	return 0, false
}

// errOpenHung: jack_client_open did not return within CloseTimeout.
var errOpenHung = errors.New("libjack did not return from jack_client_open; a close that hung in libjack holds its lock (jack2 issue 395)")

// openWithin runs jack_client_open on its own goroutine and returns the
// client (nil: no server; status says why) and whether libjack returned
// within CloseTimeout: a close that hung in libjack (see CloseTimeout)
// holds the lock every open takes, and the caller must not wait forever
// on it. A client that opens after all is closed again.
func openWithin(name, server string) (client *C.jack_client_t, status C.int, ok bool) {
	type result struct {
		client *C.jack_client_t
		status C.int
	}
	opened := make(chan result) // unbuffered: after a timeout no one takes it, and the opener closes it
	abandoned := make(chan struct{})
	go func() {
		cname, cserver := C.CString(name), C.CString(server)
		defer C.free(unsafe.Pointer(cname))
		defer C.free(unsafe.Pointer(cserver))
		var st C.int
		cl := C.sgb_jack_open(cname, cserver, &st)
		select {
		case opened <- result{cl, st}:
		case <-abandoned:
			if cl != nil {
				C.jack_client_close(cl)
			}
		}
	}()
	t := time.NewTimer(CloseTimeout)
	defer t.Stop()
	select {
	case r := <-opened:
		return r.client, r.status, true
	case <-t.C:
		close(abandoned)
		// The result may have come in just now.
		select {
		case r := <-opened:
			return r.client, r.status, true
		default:
		}
		return nil, 0, false
	}
}

// errRate marks a server that came back at another sample rate.
var errRate = errors.New("sample rate changed")

// reopen opens a client on the returned server and puts the ports back on
// the ring. Called with mu held, while no client exists.
func (c *Client) reopen() error {
	client, _, ok := openWithin(c.cfg.Name, serverName(c.cfg.Server))
	if !ok {
		return fmt.Errorf("jack: server %q: %w: %w", serverName(c.cfg.Server), ErrShutdown, errOpenHung)
	}
	if client == nil {
		return ErrNoServer
	}
	if rate := int(C.jack_get_sample_rate(client)); rate != c.rate {
		c.closeWithin(client, nil)
		// The ring is sized, the device opened and the controller set up
		// for the old rate: the engine must start over.
		return fmt.Errorf("jack: server %q came back at %d Hz, was %d Hz: %w: %w",
			serverName(c.cfg.Server), rate, c.rate, ErrShutdown, errRate)
	}
	j := c.j
	j.client = client
	j.shutdown = 0
	j.reason[0] = 0
	j.have_frames = 0 // a new server counts frames from its own start
	j.nports = 0
	C.store_u32(&j.period, C.uint32_t(C.jack_get_buffer_size(client)))
	C.store_int(&j.restart, 1)
	c.name = C.GoString(C.jack_get_client_name(client))
	fail := func(err error) error {
		C.jack_client_close(client)
		j.client = nil
		return err
	}
	if rc := C.sgb_jack_set_callbacks(j); rc != 0 {
		return fail(fmt.Errorf("jack: set callbacks (%d)%s", int(rc), detail()))
	}
	if err := c.activateN(c.ring.Channels()); err != nil {
		return fail(err)
	}
	return nil
}

func (c *Client) logf(level slog.Level, msg string, args ...any) {
	if c.cfg.Log != nil {
		c.cfg.Log.Log(context.Background(), level, msg, append([]any{"sink", "jack", "client", c.Name()}, args...)...)
	}
}

// Name is the client name JACK gave us.
func (c *Client) Name() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// Rate is the graph's sample rate.
func (c *Client) Rate() int { return c.rate }

// Period is the graph's current buffer size in frames.
func (c *Client) Period() int { return int(C.load_u32(&c.j.period)) }

// JACKClock names the clock libjack's jack_get_time() runs on:
// "CLOCK_MONOTONIC_RAW" (jackd2 1.9.21 on Linux) or "CLOCK_MONOTONIC". The
// timing the client publishes through the ring is converted to
// CLOCK_MONOTONIC either way.
func (c *Client) JACKClock() string {
	if c.j.clock_raw != 0 {
		return "CLOCK_MONOTONIC_RAW"
	}
	return "CLOCK_MONOTONIC"
}

// Ports lists the full names of the registered ports.
func (c *Client) Ports() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ports...)
}

// Start registers r.Channels() capture ports, installs the process
// callback that feeds them from r and activates the client. r must outlive
// the client: close it after Close.
func (c *Client) Start(r *ring.Ring) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ring != nil {
		return errors.New("jack: client already started")
	}
	n := r.Channels()
	if n < 1 || n > MaxPorts {
		return fmt.Errorf("jack: %d channels, want 1..%d", n, MaxPorts)
	}
	c.j.ring = (*C.struct_sgb_ring)(r.Header())
	if err := c.activateN(n); err != nil {
		return err
	}
	c.ring = r
	return nil
}

// activateN registers n ports, installs the process callback and
// activates the client. Called with mu held.
func (c *Client) activateN(n int) error {
	j := c.j
	ctype := C.CString(C.JACK_DEFAULT_AUDIO_TYPE)
	defer C.free(unsafe.Pointer(ctype))
	flags := C.ulong(C.JackPortIsOutput | C.JackPortIsPhysical | C.JackPortIsTerminal)
	var names []string
	for i := range n {
		name := fmt.Sprintf("%s%d", c.cfg.PortPrefix, i+1)
		cn := C.CString(name)
		p := C.jack_port_register(j.client, cn, ctype, flags, 0)
		C.free(unsafe.Pointer(cn))
		if p == nil {
			return fmt.Errorf("jack: register port %s:%s%s", c.name, name, detail())
		}
		j.ports[i] = p
		j.nports = C.uint32_t(i + 1)
		names = append(names, C.GoString(C.jack_port_name(p)))
	}
	C.sgb_jack_set_latency_ranges(j)
	if rc := C.sgb_jack_set_process(j); rc != 0 {
		return fmt.Errorf("jack: set process callback (%d)%s", int(rc), detail())
	}
	if rc := C.jack_activate(j.client); rc != 0 {
		return fmt.Errorf("jack: activate client %s (%d)%s", c.name, int(rc), detail())
	}
	c.ports = names
	return nil
}

// SetLatency sets the capture latency the ports report, in frames: the
// queue's real target fill. The graph recomputes its latencies at once.
func (c *Client) SetLatency(frames int) {
	C.store_u32(&c.j.latency, C.uint32_t(max(frames, 0)))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ring != nil && c.j.client != nil {
		C.jack_recompute_total_latencies(c.j.client)
	}
}

// Connect connects capture_i to the i-th JACK audio input port matched by
// patterns, in order. A pattern is a full port name or, failing that, a
// regular expression searched in the port names (as jack_get_ports does).
// Ports beyond the matches stay unconnected.
func (c *Client) Connect(patterns []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ring == nil {
		return errors.New("jack: connect before Start")
	}
	c.connect = append([]string(nil), patterns...)
	if c.j.client == nil {
		return nil // the server is away: the reconnect connects them
	}
	inputs := c.inputPorts()
	var targets []string
	seen := map[string]bool{}
	for _, pat := range patterns {
		var re *regexp.Regexp
		exact := false
		for _, p := range inputs {
			if p == pat {
				exact = true
			}
		}
		if exact {
			if !seen[pat] {
				targets, seen[pat] = append(targets, pat), true
			}
			continue
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			return fmt.Errorf("jack: --connect %q: not an input port and not a valid regular expression: %w", pat, err)
		}
		for _, p := range inputs {
			if re.MatchString(p) && !seen[p] {
				targets, seen[p] = append(targets, p), true
			}
		}
	}
	if len(targets) == 0 {
		shown := inputs
		if len(shown) > 8 {
			shown = append(shown[:8:8], "...")
		}
		return fmt.Errorf("jack: --connect %q: no JACK audio input port matches (inputs: %s)",
			patterns, strings.Join(shown, ", "))
	}
	for i, dst := range targets[:min(len(targets), len(c.ports))] {
		src, cdst := C.CString(c.ports[i]), C.CString(dst)
		rc := C.jack_connect(c.j.client, src, cdst)
		C.free(unsafe.Pointer(src))
		C.free(unsafe.Pointer(cdst))
		if rc != 0 && rc != C.EEXIST {
			return fmt.Errorf("jack: connect %s to %s (%d)%s", c.ports[i], dst, int(rc), detail())
		}
	}
	return nil
}

func (c *Client) inputPorts() []string {
	ctype := C.CString(C.JACK_DEFAULT_AUDIO_TYPE)
	defer C.free(unsafe.Pointer(ctype))
	list := C.jack_get_ports(c.j.client, nil, ctype, C.JackPortIsInput)
	if list == nil {
		return nil
	}
	defer C.jack_free(unsafe.Pointer(list))
	var names []string
	for p := list; *p != nil; p = (**C.char)(unsafe.Add(unsafe.Pointer(p), unsafe.Sizeof(*p))) {
		names = append(names, C.GoString(*p))
	}
	return names
}

// Stats returns the client's counters and the ring's underruns.
func (c *Client) Stats() Stats {
	s := Stats{
		Xruns:  uint64(C.load_u64(&c.j.xruns)),
		Cycles: uint64(C.load_u64(&c.j.cycles)),
	}
	// Lock-free: the engine's status may ask while a reconnect holds mu.
	// ring is set once, by Start, before anyone asks.
	if c.ring != nil {
		rs := c.ring.Stats()
		s.UnderrunEvents, s.UnderrunFrames = rs.UnderrunEvents, rs.UnderrunFrames
	}
	s.Reconnects = c.reconnects.Load()
	return s
}

// Done is closed when the server shut the client down or Close ran.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is nil while the client runs; after Done it wraps ErrShutdown with
// the server's reason, or is ErrClosed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close deactivates and closes the client; after it returns no callback
// touches the ring any more.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	client, name := c.j.client, c.name
	c.j.client = nil
	c.mu.Unlock()
	close(c.quit)

	var err error
	// jack_client_close deactivates first and also works after a
	// server shutdown; after it no callback runs. (None exists while a
	// reconnect waits for the server.)
	if client != nil {
		switch rc, ok := c.closeWithin(client, nil); {
		case !ok:
			err = fmt.Errorf("jack: close client %s: libjack did not return within %v (jack2 issue 395)", name, CloseTimeout)
		case rc != 0 && c.Err() == nil:
			err = fmt.Errorf("jack: close client %s (%d)%s", name, rc, detail())
		}
	}
	// Closing the write end wakes watch with EOF if no shutdown did.
	unix.Close(c.wakeW)
	<-c.done
	c.wakeR.Close()
	if !c.hung.Load() { // else libjack's threads may still use j: it stays
		C.free(unsafe.Pointer(c.j))
	}
	c.j = nil
	return err
}

// filteredCycleTimes reports whether the libjack of version v publishes
// cycle times that its server's DLL filtered (jackd2): those start from
// one wake-up and settle for seconds, so the sink also publishes each
// cycle's raw wake-up and the drift controller measures the graph clock
// from their lower edge. PipeWire's libjack publishes its driver's clock,
// which is better than any wake-up: no wake-ups then.
func filteredCycleTimes(v string) bool { return !strings.Contains(v, "PipeWire") }
