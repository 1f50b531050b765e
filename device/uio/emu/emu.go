package emu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/device/sim"
	"github.com/sgbridge/sgbridge/device/stamp"
	"github.com/sgbridge/sgbridge/device/uio"
	"github.com/sgbridge/sgbridge/internal/rt"
)

// Config sets up an emulated grabber.
type Config struct {
	Profile *uio.Profile // the device to emulate; required
	Root    string       // ROOT of ROOT/sys/class/uio and ROOT/dev; required
	Index   int          // N of uioN

	Signal sim.Signal
	Freq   float64 // sine base frequency; 0 means sim.DefaultFreq

	PPM     float64       // device clock offset from nominal
	Jitter  time.Duration // each interrupt is delivered up to this late
	LoseIRQ float64       // probability an interrupt is counted but never delivered
	// Stall holds every interrupt for Stall once every StallEvery (the
	// DMA keeps writing: buffers the reader did not get in time are
	// overwritten, as on hardware).
	Stall, StallEvery time.Duration
	// VanishAfter removes the device this long after Run starts (0:
	// never); ReturnAfter brings it back that long after it vanished
	// (0: it stays gone). A returned device counts from 0 again.
	VanishAfter, ReturnAfter time.Duration

	// MapOffset places every map's region this many bytes into its first
	// page, as sysfs maps/mapM/offset reports for a device whose registers
	// are not page aligned. Tests use it to exercise that path.
	MapOffset int64

	// RTPriority is the SCHED_FIFO priority of the DMA clock's thread (0:
	// normal): hardware does not wait for the scheduler, and an emulator
	// that does shows its own jitter as the bridge's. DefaultRTPriority is
	// the usual choice.
	RTPriority int

	Seed uint64
	Log  *slog.Logger
}

// Stats are the emulator's counters.
type Stats struct {
	Interrupts uint64 // buffers completed
	Lost       uint64 // interrupts dropped on purpose (LoseIRQ)
	Held       uint64 // interrupts that fell in a stall
	Coalesced  uint64 // interrupts that found the client masked
	// Skipped is what the clients saw: the sum over every count they were
	// sent of (count − previous count − 1), from each client's second
	// message on. A reader that counts jumps must count exactly this.
	Skipped  uint64
	Clients  uint64 // connections accepted
	Vanished uint64
	Returned uint64
	// The emulator is test equipment: a DMA engine is never late, but
	// this thread can be (the host took the CPU). LateTicks counts
	// completions whose registers changed more than LateTick after the
	// device clock's moment; WorstLate is the latest, ns.
	LateTicks uint64
	WorstLate int64
}

// DefaultRTPriority is the DMA clock thread's SCHED_FIFO priority in
// `sgbridge emu`: above every thread of the graph it feeds (PipeWire's data
// threads run at 88, jackd's at up to 80-89 as configured, the bridge at
// 60), since no scheduler delays a real DMA engine: at 70 the emulated
// clock could wait behind PipeWire's threads. What is left (Stats.
// LateTicks; on a 2-core VM 1-4 % of the completions over 5 µs late) is
// the host taking the CPU, which no priority helps, and it varied more
// with the machine's load over a day than with this setting.
const DefaultRTPriority = 95

// LateTick is how late a completion's registers may change before
// Stats counts it late: a few times what spinning to the moment leaves
// (about a µs), well under what moves a bridge's clock estimate.
const LateTick = 5 * time.Microsecond

// Emulator is one emulated UIO grabber.
type Emulator struct {
	cfg       Config
	log       *slog.Logger
	gen       *sim.Generator
	page      int
	periodNs  float64
	createdDs []string // directories New made, to remove at the end

	mu      sync.Mutex // guards dev, clients, count and stats
	dev     *instance
	count   uint32
	stats   Stats
	present atomic.Bool
	t0      atomic.Int64 // CLOCK_MONOTONIC ns of count 0, set by Run
	wrote   [wroteRing]wroteAt
}

// wroteAt is when the registers of one completion changed (see WrittenAt).
type wroteAt struct{ count, at atomic.Int64 }

// wroteRing is how many completions WrittenAt remembers: 5 s at 512
// frames and 96 kHz, more than any test reads back at once.
const wroteRing = 1024

// instance is the device while it is present: sysfs entry, socket, maps.
type instance struct {
	sys, path string
	listen    int
	memfds    [uio.MaxMaps]int
	sizes     [uio.MaxMaps]int64
	maps      [uio.MaxMaps][]byte
	bufs      [][]byte
	regs      []byte
	clients   map[*client]struct{}
	gone      bool // destroyed: accept takes no more clients (e.mu)
	wg        sync.WaitGroup
}

type client struct {
	fd       int
	msg      [uio.MsgSize]byte // drain's buffer: a local would escape, and allocate
	masked   bool
	pending  bool // an interrupt arrived while masked
	sent     uint32
	sentOnce bool
}

// New checks cfg and creates the device under cfg.Root.
func New(cfg Config) (*Emulator, error) {
	p := cfg.Profile
	if p == nil {
		return nil, errors.New("emu: no profile")
	}
	if cfg.Root == "" {
		return nil, errors.New("emu: no root directory")
	}
	if cfg.Freq == 0 {
		cfg.Freq = sim.DefaultFreq
	}
	switch {
	case math.IsNaN(cfg.PPM) || math.Abs(cfg.PPM) > 100_000:
		return nil, fmt.Errorf("emu: clock offset %g ppm is outside ±100000", cfg.PPM)
	case !(cfg.LoseIRQ >= 0 && cfg.LoseIRQ < 1):
		return nil, fmt.Errorf("emu: lost-interrupt probability %g is outside [0, 1)", cfg.LoseIRQ)
	case cfg.Jitter < 0 || cfg.Stall < 0 || cfg.StallEvery < 0 || cfg.VanishAfter < 0 || cfg.ReturnAfter < 0:
		return nil, errors.New("emu: negative duration")
	case cfg.Stall > 0 && cfg.StallEvery <= cfg.Stall:
		return nil, fmt.Errorf("emu: stalls of %v need a longer interval than %v", cfg.Stall, cfg.StallEvery)
	case cfg.Index < 0 || cfg.Index > 999:
		return nil, fmt.Errorf("emu: device index %d outside 0..999", cfg.Index)
	case cfg.MapOffset < 0 || cfg.MapOffset%64 != 0 || cfg.MapOffset >= int64(os.Getpagesize()):
		return nil, fmt.Errorf("emu: map offset %d must be a multiple of 64 inside one page", cfg.MapOffset)
	}
	f := p.Format
	if p.Format.Period%2 != 0 {
		return nil, fmt.Errorf("emu: period %d: the emulated DMA writes each buffer in two halves, give an even period", f.Period)
	}
	gen, err := sim.NewGenerator(cfg.Signal, f, cfg.Freq)
	if err != nil {
		return nil, fmt.Errorf("emu: %w", err)
	}
	e := &Emulator{
		cfg:      cfg,
		log:      cfg.Log,
		gen:      gen,
		page:     os.Getpagesize(),
		periodNs: float64(f.Period) * 1e9 / (float64(f.Rate) * (1 + cfg.PPM*1e-6)),
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	for _, d := range []string{filepath.Join(cfg.Root, "sys", "class", "uio"), filepath.Join(cfg.Root, "dev")} {
		if err := e.mkdirs(d); err != nil {
			e.removeDirs()
			return nil, err
		}
	}
	if err := e.create(); err != nil {
		e.removeDirs()
		return nil, err
	}
	return e, nil
}

// mkdirs is MkdirAll that remembers what it made.
func (e *Emulator) mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := e.mkdirs(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("emu: %w", err)
	}
	e.createdDs = append(e.createdDs, dir)
	return nil
}

func (e *Emulator) removeDirs() {
	for i := len(e.createdDs) - 1; i >= 0; i-- {
		os.Remove(e.createdDs[i]) // only if empty: never someone else's files
	}
	e.createdDs = nil
}

// Dev is the device path (the socket).
func (e *Emulator) Dev() string {
	return filepath.Join(e.cfg.Root, "dev", fmt.Sprintf("uio%d", e.cfg.Index))
}

// Sys is the device's sysfs directory.
func (e *Emulator) Sys() string {
	return filepath.Join(e.cfg.Root, "sys", "class", "uio", fmt.Sprintf("uio%d", e.cfg.Index))
}

// Stats returns the counters.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// create makes the device present: memfds, sysfs entry, socket.
func (e *Emulator) create() error {
	p := e.cfg.Profile
	in := &instance{sys: e.Sys(), path: e.Dev(), listen: -1, clients: map[*client]struct{}{}}
	for i := range in.memfds {
		in.memfds[i] = -1
	}
	fail := func(err error) error { e.destroy(in); return err }
	if _, err := os.Lstat(in.sys); err == nil {
		return fmt.Errorf("emu: %s already exists (another emulator on this root?)", in.sys)
	}
	if err := os.MkdirAll(filepath.Join(in.sys, "maps"), 0o755); err != nil {
		return fmt.Errorf("emu: %w", err)
	}
	write := func(path, s string) error { return os.WriteFile(path, []byte(s+"\n"), 0o444) }
	if err := write(filepath.Join(in.sys, "name"), p.Name); err != nil {
		return fail(fmt.Errorf("emu: %w", err))
	}
	write(filepath.Join(in.sys, "version"), "sgbridge-emu")
	for _, m := range p.NeededMaps() {
		size := roundUp(p.Extent(m), int64(e.page))
		fd, err := unix.MemfdCreate(fmt.Sprintf("sgbridge-emu-map%d", m), unix.MFD_CLOEXEC)
		if err != nil {
			return fail(fmt.Errorf("emu: memfd: %w", err))
		}
		in.memfds[m] = fd
		total := roundUp(e.cfg.MapOffset+size, int64(e.page))
		if err := unix.Ftruncate(fd, total); err != nil {
			return fail(fmt.Errorf("emu: size map%d: %w", m, err))
		}
		b, err := unix.Mmap(fd, 0, int(total), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return fail(fmt.Errorf("emu: map map%d: %w", m, err))
		}
		in.maps[m], in.sizes[m] = b, total
		dir := filepath.Join(in.sys, "maps", fmt.Sprintf("map%d", m))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fail(fmt.Errorf("emu: %w", err))
		}
		name := fmt.Sprintf("sgbuf%d", m)
		if p.Registers != nil && p.Registers.Map == m {
			name = "regs"
		}
		addr := uint64(0x4000_0000) + uint64(m)<<24 + uint64(e.cfg.MapOffset)
		for file, val := range map[string]string{
			"name": name, "addr": fmt.Sprintf("0x%016x", addr),
			"size": fmt.Sprintf("0x%016x", size), "offset": fmt.Sprintf("0x%x", e.cfg.MapOffset),
		} {
			if err := write(filepath.Join(dir, file), val); err != nil {
				return fail(fmt.Errorf("emu: %w", err))
			}
		}
	}
	for _, b := range p.Buffers {
		o := e.cfg.MapOffset + b.Offset
		in.bufs = append(in.bufs, in.maps[b.Map][o:o+int64(b.Length)])
	}
	if r := p.Registers; r != nil {
		in.regs = in.maps[r.Map][e.cfg.MapOffset:]
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail(fmt.Errorf("emu: socket: %w", err))
	}
	in.listen = fd
	os.Remove(in.path) // a stale socket of a killed emulator
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: in.path}); err != nil {
		return fail(fmt.Errorf("emu: bind %s: %w", in.path, err))
	}
	if err := unix.Listen(fd, 8); err != nil {
		return fail(fmt.Errorf("emu: listen %s: %w", in.path, err))
	}
	e.mu.Lock()
	e.dev, e.count = in, 0
	e.mu.Unlock()
	e.present.Store(true)
	in.wg.Add(1)
	go e.accept(in)
	return nil
}

// destroy removes the device: clients see end of file, then the socket
// and the sysfs entry disappear, as when a driver is unbound.
func (e *Emulator) destroy(in *instance) {
	e.present.Store(false)
	e.mu.Lock()
	if e.dev == in {
		e.dev = nil
	}
	// Under e.mu, listener first: a client that connects from now on is
	// refused, and one accept is handling is turned away before its hello
	// (accept checks gone under the same lock), so no client can be left
	// that nobody shuts down.
	in.gone = true
	if in.listen >= 0 {
		unix.Shutdown(in.listen, unix.SHUT_RDWR)
	}
	for c := range in.clients {
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
	e.mu.Unlock()
	in.wg.Wait()
	if in.listen >= 0 {
		unix.Close(in.listen)
		os.Remove(in.path)
	}
	os.RemoveAll(in.sys)
	for m := range in.maps {
		if in.maps[m] != nil {
			unix.Munmap(in.maps[m])
		}
		if in.memfds[m] >= 0 {
			unix.Close(in.memfds[m])
		}
	}
}

func (e *Emulator) accept(in *instance) {
	defer in.wg.Done()
	for {
		// Non-blocking: drain reads what is there and never waits.
		fd, _, err := unix.Accept4(in.listen, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			return // shut down
		}
		// The hello and the registration happen under e.mu with the
		// gone check: a device being destroyed never greets a client it
		// would then not shut down (and wait for, for ever).
		e.mu.Lock()
		if in.gone {
			e.mu.Unlock()
			unix.Close(fd)
			return
		}
		if err := e.hello(in, fd); err != nil {
			e.mu.Unlock()
			e.log.Warn("emu: client dropped", "err", err)
			unix.Close(fd)
			continue
		}
		c := &client{fd: fd, masked: true}
		in.clients[c] = struct{}{}
		e.stats.Clients++
		in.wg.Add(1)
		e.mu.Unlock()
		go e.serve(in, c)
	}
}

// hello sends a new client the device's maps and count. e.mu is held.
func (e *Emulator) hello(in *instance, fd int) error {
	var h uio.Hello
	var fds []int
	h.Count = e.count // e.mu is held
	for m, f := range in.memfds {
		if f >= 0 {
			h.Maps = append(h.Maps, uio.HelloMap{Index: m, Size: in.sizes[m]})
			fds = append(fds, f)
		}
	}
	b, err := h.MarshalBinary()
	if err != nil {
		return err
	}
	return unix.Sendmsg(fd, b, unix.UnixRights(fds...), nil, 0)
}

// serve applies a client's mask (0) and unmask (1) writes until it leaves.
// The DMA clock's thread applies them too, before each interrupt (see
// interrupt); every read happens under e.mu, so they apply in order
// whichever thread reads them.
func (e *Emulator) serve(in *instance, c *client) {
	defer in.wg.Done()
	pfd := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(pfd, -1); err != nil && err != unix.EINTR {
			break
		}
		e.mu.Lock()
		ok := e.drain(c)
		e.mu.Unlock()
		if !ok || pfd[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			break
		}
	}
	e.mu.Lock()
	delete(in.clients, c)
	e.mu.Unlock()
	unix.Close(c.fd)
}

// drain applies, in order and without blocking, the mask and unmask
// messages c has written. It reports false once the client has gone (end
// of file) or broke the protocol. e.mu is held.
func (e *Emulator) drain(c *client) bool {
	for {
		n, err := unix.Read(c.fd, c.msg[:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return true
		case err != nil || n == 0:
			return false
		case n != uio.MsgSize:
			e.log.Warn("emu: client wrote a short message; dropping it", "bytes", n)
			return false
		}
		if binary.LittleEndian.Uint32(c.msg[:]) == 0 {
			c.masked = true
			continue
		}
		c.masked = false
		if c.pending { // level-triggered: it fires as soon as it is unmasked
			e.send(c)
		}
	}
}

// send delivers the current count to c and masks it, as uio_pdrv_genirq's
// handler disables the interrupt until userspace writes 1. e.mu is held.
func (e *Emulator) send(c *client) {
	var msg [uio.MsgSize]byte
	binary.LittleEndian.PutUint32(msg[:], e.count)
	if _, err := unix.SendmsgN(c.fd, msg[:], nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL); err != nil {
		return // the client is going; serve will notice
	}
	if c.sentOnce {
		e.stats.Skipped += uint64(e.count - c.sent - 1)
	}
	c.sent, c.sentOnce, c.masked, c.pending = e.count, true, true, false
}

// interrupt is one delivered interrupt: every unmasked client gets the
// count; masked ones get it when they unmask.
//
// An unmask the client wrote before now takes effect before the
// interrupt, as the kernel's does (write(2) on /dev/uioN enables the line
// before it returns): applying it only when serve's goroutine gets a CPU
// (which can take milliseconds when the Go scheduler has no P to spare)
// would deliver the interrupt late, at that moment, and the reader would
// time-stamp its buffer late.
func (e *Emulator) interrupt() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dev == nil {
		return
	}
	for c := range e.dev.clients {
		e.drain(c) // a client gone is serve's to remove; its send fails
		if c.sentOnce && c.sent == e.count {
			continue // the unmask just delivered this count
		}
		if c.masked {
			if c.sentOnce {
				e.stats.Coalesced++
			}
			c.pending = true
			continue
		}
		e.send(c)
	}
}

// Run runs the device clock until ctx is done, then removes the device and
// everything New created.
func (e *Emulator) Run(ctx context.Context) error {
	defer e.Close()
	// The clock thread spins to each DMA event, from stamp.Lead before
	// it (about 6 % of a core at the default profile's 512-frame periods,
	// two events a period), only when it runs real-time: a normal thread
	// can be preempted at the tick anyway, and its spinning would take
	// the CPU from the reader it emulates for.
	lead := int64(0)
	if e.cfg.RTPriority > 0 {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		r := rt.Promote(rt.Config{Priority: e.cfg.RTPriority})
		defer func() {
			if r.Realtime {
				rt.Demote()
			}
		}()
		e.log.Info("emu: DMA clock thread", "scheduling", r.String())
		if r.Realtime {
			lead = int64(stamp.Lead)
		}
	}
	rng := rand.New(rand.NewPCG(e.cfg.Seed, 0xe40))
	stop := func() bool { return ctx.Err() != nil }
	clock := sim.RealClock{}
	t0 := clock.Now()
	e.t0.Store(t0)
	vanishAt := int64(math.MaxInt64)
	if e.cfg.VanishAfter > 0 {
		vanishAt = t0 + int64(e.cfg.VanishAfter)
	}
	var (
		half      uint64 // half periods elapsed since t0
		k         uint64 // buffers completed
		deliverAt = int64(math.MaxInt64)
		prefilled uint64 // buffer (count) whose second half is written
		n         = uint64(len(e.cfg.Profile.Buffers))
		period    = uint64(e.cfg.Profile.Format.Period)
		fb        = e.cfg.Profile.Format.FrameBytes()
	)
	for {
		next := t0 + e.at(half+1)
		wake := min(next, deliverAt, vanishAt)
		// Hardware completes a buffer on its crystal's tick, not a
		// scheduler's: sleep to just before the moment, then spin to it,
		// so the registers and the interrupt carry the device's timing
		// and not this thread's wake-up latency (90-230 µs on a 2-core
		// VM, wandering over seconds).
		clock.SleepUntil(wake-lead, stop)
		if stop() {
			return nil
		}
		if wake == next && half%2 == 1 && prefilled != k+1 {
			// Buffer k+1 completes at wake: write its second half now,
			// so that at the moment only the registers change (filling
			// 512 frames of sine takes 10-20 µs, which would otherwise
			// sit, varying, between the tick and the register).
			e.mu.Lock()
			in := e.dev
			e.mu.Unlock()
			buf := in.bufs[k%n]
			h := len(buf) / 2 / fb * fb
			e.gen.Fill(buf[h:], k*period+uint64(h/fb))
			prefilled = k + 1
		}
		for clock.Now() < wake {
		}
		now := clock.Now()
		if now >= vanishAt {
			if err := e.vanish(ctx); err != nil || ctx.Err() != nil {
				return err
			}
			vanishAt = math.MaxInt64
			t0, half, k, deliverAt, prefilled = clock.Now(), 0, 0, math.MaxInt64, 0
			e.t0.Store(t0)
			for i := range e.wrote { // counts start over
				e.wrote[i].count.Store(-1)
			}
			continue
		}
		if now >= deliverAt {
			deliverAt = math.MaxInt64
			e.interrupt()
		}
		if now < next {
			continue
		}
		half++
		e.mu.Lock()
		in := e.dev
		e.mu.Unlock()
		buf := in.bufs[k%n]
		h := len(buf) / 2 / fb * fb
		if half%2 == 1 { // first half of buffer k+1
			e.gen.Fill(buf[:h], k*period)
			continue
		}
		if prefilled != k+1 {
			e.gen.Fill(buf[h:], k*period+uint64(h/fb))
		}
		k++
		w := clock.Now()
		late := w - next
		e.complete(in, k, n)
		e.noteWrote(k, w)
		if late > int64(LateTick) {
			e.bump(func(s *Stats) {
				s.LateTicks++
				s.WorstLate = max(s.WorstLate, late)
			})
		}
		switch {
		case e.cfg.LoseIRQ > 0 && rng.Float64() < e.cfg.LoseIRQ:
			e.bump(func(s *Stats) { s.Lost++ })
		case e.stalled(next - t0):
			e.bump(func(s *Stats) { s.Held++ })
		default:
			if deliverAt == math.MaxInt64 {
				deliverAt = next
				if e.cfg.Jitter > 0 {
					deliverAt += int64(rng.Float64() * float64(e.cfg.Jitter))
				}
			}
		}
	}
}

// at is the time of half period h on the device clock, ns after t0.
func (e *Emulator) at(h uint64) int64 { return int64(float64(h) * e.periodNs / 2) }

// CompletedAt is the CLOCK_MONOTONIC time, ns, at which the emulated DMA
// completes (or completed) the buffer of interrupt count (cumulative since
// the device was last created): the truth against which a reader's
// interrupt times can be judged. It is 0 until Run has started the clock.
func (e *Emulator) CompletedAt(count uint64) int64 {
	t0 := e.t0.Load()
	if t0 == 0 {
		return 0
	}
	return t0 + e.at(2*count)
}

// WrittenAt is the CLOCK_MONOTONIC time, ns, at which the registers of
// interrupt count changed, read just before they did; false once the
// count has left the last wroteRing or not yet happened. It is
// CompletedAt plus this thread's lateness: a register watch sees the
// write, so it is judged against this (on a loaded machine the emulator
// is tens of µs late on many completions, see LateTicks).
func (e *Emulator) WrittenAt(count uint64) (int64, bool) {
	s := &e.wrote[count%wroteRing]
	c := s.count.Load()
	at := s.at.Load()
	if c != int64(count) || s.count.Load() != c {
		return 0, false
	}
	return at, true
}

func (e *Emulator) noteWrote(count uint64, at int64) {
	s := &e.wrote[count%wroteRing]
	s.count.Store(-1)
	s.at.Store(at)
	s.count.Store(int64(count))
}

// complete counts buffer k done and updates the registers.
func (e *Emulator) complete(in *instance, k, n uint64) {
	if r := e.cfg.Profile.Registers; r != nil {
		if r.CurrentBuffer >= 0 {
			atomic.StoreUint32(reg(in.regs, r.CurrentBuffer), uint32(k%n))
		}
		if r.IRQStatus >= 0 {
			atomic.StoreUint32(reg(in.regs, r.IRQStatus), 1)
		}
	}
	e.mu.Lock()
	e.count = uint32(k)
	e.stats.Interrupts++
	e.mu.Unlock()
}

func reg(b []byte, off int64) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

func (e *Emulator) bump(f func(*Stats)) {
	e.mu.Lock()
	f(&e.stats)
	e.mu.Unlock()
}

// stalled says whether an interrupt at rel (since t0) falls in a stall.
func (e *Emulator) stalled(rel int64) bool {
	if e.cfg.Stall <= 0 {
		return false
	}
	every := int64(e.cfg.StallEvery)
	start := rel / every * every
	return start > 0 && rel < start+int64(e.cfg.Stall)
}

// vanish removes the device and, with ReturnAfter, brings it back.
func (e *Emulator) vanish(ctx context.Context) error {
	e.mu.Lock()
	in := e.dev
	e.mu.Unlock()
	e.destroy(in)
	e.bump(func(s *Stats) { s.Vanished++ })
	e.log.Info("emu: device vanished", "dev", e.Dev())
	if e.cfg.ReturnAfter <= 0 {
		<-ctx.Done()
		return nil
	}
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(e.cfg.ReturnAfter):
	}
	if err := e.create(); err != nil {
		return err
	}
	e.bump(func(s *Stats) { s.Returned++ })
	e.log.Info("emu: device returned", "dev", e.Dev())
	return nil
}

// Present reports whether the device exists right now.
func (e *Emulator) Present() bool { return e.present.Load() }

// Close removes the device and the directories New created. Run calls it.
func (e *Emulator) Close() error {
	e.mu.Lock()
	in := e.dev
	e.mu.Unlock()
	if in != nil {
		e.destroy(in)
	}
	e.removeDirs()
	return nil
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }
