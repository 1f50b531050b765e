package uio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/device/stamp"
	"github.com/sgbridge/sgbridge/internal/monotime"
	"github.com/sgbridge/sgbridge/internal/rt"
)

// Config opens a UIO grabber.
type Config struct {
	Root    string   // prefix of sys/ and dev/; "" means "/"
	Name    string   // sgrab, sgrab0, uio0 or /dev/uio0 (see Find)
	Profile *Profile // where the buffers live; required
	// Slices never stitches the buffers into one virtual map, even where
	// the maps allow it (tests use it to run both views).
	Slices bool
	Log    *slog.Logger // nil: slog.Default()
}

// Device is a UIO grabber: a Grabber and a Reopener.
type Device struct {
	cfg  Config
	log  *slog.Logger
	page int

	info   Info
	fd     int  // /dev/uioN or the emulator's socket
	socket bool // fd is the emulator's socket
	memfds []int
	maps   [MaxMaps][]byte // whole mappings, as mmap returned them
	mem    [MaxMaps][]byte // each map's region (past its page offset)
	view   *device.RingView
	regs   []byte // the register map's region, nil without registers
	wake   int    // eventfd that Stop writes to wake Wait

	// Interrupt loop state, owned by the thread calling Wait.
	pfd       [2]unix.PollFd
	msg       [MsgSize]byte
	one       [MsgSize]byte
	haveBase  bool
	lastRaw   uint32
	count     uint64
	shift     int
	checkBase bool            // the next Completion checks the base (realign)
	prevTime  int64           // the previous Completion's stamp
	pred      stamp.Predictor // when the next buffer is due (watch.go)
	misses    int             // predicted completions in a row the watch did not see

	stopped atomic.Bool
}

var (
	_ device.Grabber  = (*Device)(nil)
	_ device.Reopener = (*Device)(nil)
)

// Open finds the device, checks it against the profile, maps its buffers
// and registers and opens its interrupt.
func Open(cfg Config) (*Device, error) {
	if cfg.Profile == nil {
		return nil, errors.New("uio: no device profile")
	}
	if cfg.Root == "" {
		cfg.Root = "/"
	}
	d := &Device{cfg: cfg, log: cfg.Log, page: os.Getpagesize(), fd: -1, wake: -1}
	if d.log == nil {
		d.log = slog.Default()
	}
	binary.LittleEndian.PutUint32(d.one[:], 1)
	w, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("uio: eventfd: %w", err)
	}
	d.wake = w
	if err := d.open(); err != nil {
		unix.Close(w)
		return nil, err
	}
	return d, nil
}

// open does the part of Open that Reopen repeats.
func (d *Device) open() error {
	in, err := Find(d.cfg.Root, d.cfg.Name)
	if err != nil {
		return fmt.Errorf("uio: %w", err)
	}
	if err := d.cfg.Profile.Match(in); err != nil {
		return fmt.Errorf("uio: %w", err)
	}
	d.info = in
	if err := d.openDev(); err != nil {
		d.release()
		return err
	}
	if err := d.mapAll(); err != nil {
		d.release()
		return err
	}
	d.pfd = [2]unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}, {Fd: int32(d.wake), Events: unix.POLLIN}}
	return nil
}

// openDev opens the device path: a character device (the kernel's UIO) or
// a Unix socket (the emulator), told apart by the file type.
func (d *Device) openDev() error {
	path := d.info.Dev
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Errorf("uio: %s: %w", path, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			hint := ""
			if errors.Is(err, unix.EACCES) {
				hint = " (install the udev rule that gives the audio group access, and join that group)"
			}
			return fmt.Errorf("uio: open %s: %w%s", path, err, hint)
		}
		d.fd = fd
		return nil
	case unix.S_IFSOCK:
		return d.connect(path)
	}
	return fmt.Errorf("uio: %s is neither a UIO character device nor an emulator socket (mode %#o)", path, st.Mode)
}

// connect talks to the emulator: its hello passes one memfd per map.
func (d *Device) connect(path string) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("uio: socket: %w", err)
	}
	d.fd, d.socket = fd, true
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fmt.Errorf("uio: connect %s: %w", path, err)
	}
	// The hello is the emulator's first message; do not wait forever for
	// a socket that is not one.
	tv := unix.Timeval{Sec: 2}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, HelloMax+1)
	oob := make([]byte, unix.CmsgSpace(MaxMaps*4))
	n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return fmt.Errorf("uio: %s: no hello from the emulator: %w", path, err)
	}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{})
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return fmt.Errorf("uio: %s: %w: %v", path, ErrProtocol, err)
		}
		for _, m := range msgs {
			r, err := unix.ParseUnixRights(&m)
			if err == nil {
				fds = append(fds, r...)
			}
		}
	}
	d.memfds = fds
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		return fmt.Errorf("uio: %s: %w: hello truncated", path, ErrProtocol)
	}
	h, err := ParseHello(buf[:n], len(fds))
	if err != nil {
		return fmt.Errorf("uio: %s: %w", path, err)
	}
	// Reorder by map index: memfds[m] is map m's, -1 if not passed.
	byIndex := make([]int, MaxMaps)
	for i := range byIndex {
		byIndex[i] = -1
	}
	for i, m := range h.Maps {
		byIndex[m.Index] = fds[i]
		for _, sm := range d.info.Maps {
			if sm.Index == m.Index && sm.Offset+sm.Size > m.Size {
				return fmt.Errorf("uio: %s: %w: map%d is %#x bytes in sysfs but its memfd holds %#x", path, ErrProtocol, m.Index, sm.Offset+sm.Size, m.Size)
			}
		}
	}
	d.memfds = byIndex // ParseHello checked one fd per distinct map
	return nil
}

// mapAll maps every map the profile needs, whole (a UIO map can only be
// mapped from its start: the kernel takes the mmap offset's page number as
// the map index), and builds the ring view.
func (d *Device) mapAll() error {
	p := d.cfg.Profile
	for _, m := range p.NeededMaps() {
		mp := d.sysMap(m)
		prot := unix.PROT_READ
		if p.Registers != nil && p.Registers.Map == m {
			prot |= unix.PROT_WRITE
		}
		length := roundUp(mp.Offset+mp.Size, int64(d.page))
		fd, off := d.fd, int64(m*d.page)
		if d.socket {
			if d.memfds[m] < 0 {
				return fmt.Errorf("uio: the emulator did not pass map%d", m)
			}
			fd, off = d.memfds[m], 0
		}
		b, err := unix.Mmap(fd, off, int(length), prot, unix.MAP_SHARED)
		if err != nil {
			return fmt.Errorf("uio: map map%d of %s (%#x bytes at offset %#x): %w", m, d.info.Dev, length, off, err)
		}
		d.maps[m] = b
		d.mem[m] = b[mp.Offset : mp.Offset+mp.Size]
	}
	if r := p.Registers; r != nil {
		d.regs = d.mem[r.Map]
		if uintptr(unsafe.Pointer(&d.regs[0]))%4 != 0 {
			return fmt.Errorf("uio: map%d starts at an unaligned page offset: registers cannot be read as 32-bit words", r.Map)
		}
	}
	if regions, ok := d.stitchable(); ok && !d.cfg.Slices {
		v, err := device.MapRing(regions, unix.PROT_READ)
		if err == nil {
			d.view = v
			return nil
		}
		d.log.Debug("uio: cannot stitch the buffers into one map; using slices", "err", err)
	}
	bufs := make([][]byte, len(p.Buffers))
	for i, b := range p.Buffers {
		bufs[i] = d.mem[b.Map][b.Offset : b.Offset+int64(b.Length) : b.Offset+int64(b.Length)]
	}
	d.view = device.SliceRing(bufs)
	return nil
}

// stitchable returns the file regions of the buffers when each can be
// mapped on its own at a page boundary: any whole pages of an emulator's
// memfd, but of a UIO character device only a buffer that starts its map.
func (d *Device) stitchable() ([]device.Region, bool) {
	page := int64(d.page)
	var regions []device.Region
	for _, b := range d.cfg.Profile.Buffers {
		start := d.sysMap(b.Map).Offset + b.Offset
		if start%page != 0 || int64(b.Length)%page != 0 {
			return nil, false
		}
		r := device.Region{Offset: start, Length: b.Length}
		if d.socket {
			r.FD = d.memfds[b.Map]
		} else {
			if start != 0 {
				return nil, false
			}
			r.FD, r.Offset = d.fd, int64(b.Map)*page
		}
		regions = append(regions, r)
	}
	return regions, true
}

func (d *Device) sysMap(m int) Map {
	for _, mp := range d.info.Maps {
		if mp.Index == m {
			return mp
		}
	}
	return Map{Index: m} // Match checked that it exists
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// Info is the device as found in sysfs.
func (d *Device) Info() Info { return d.info }

// Linear reports whether the ring is one stitched virtual map.
func (d *Device) Linear() bool { return d.view != nil && d.view.Linear() != nil }

// RawCount is the device's cumulative interrupt count as last read (the
// kernel's count, not normalised to Start): for diagnostics.
func (d *Device) RawCount() uint32 { return d.lastRaw }

// Format is the profile's stream format.
func (d *Device) Format() device.Format { return d.cfg.Profile.Format }

// Buffer returns the engine's buffer i: the device's buffer i+shift, so
// that buffer 0 is the one that completed with Completion 1.
func (d *Device) Buffer(i int) []byte {
	return d.view.Buffer((i + d.shift) % d.view.Len())
}

// Start arms the interrupt: it drops an event that was already pending
// (its time would be stale), and unmasks. The first interrupt read after
// it sets the base (Wait does not report it: it may be stale too), the
// next is Completion 1.
func (d *Device) Start() error {
	if d.fd < 0 {
		return fmt.Errorf("uio: %s is gone", d.info.Dev)
	}
	d.stopped.Store(false)
	var drain [8]byte
	unix.Read(d.wake, drain[:])
	d.haveBase, d.count, d.shift, d.prevTime, d.misses = false, 0, 0, 0, 0
	d.pred.Reset()
	pfd := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}}
	if n, _ := unix.Poll(pfd, 0); n > 0 && pfd[0].Revents&unix.POLLIN != 0 {
		if _, err := unix.Read(d.fd, d.msg[:]); err != nil {
			return d.goneErr("read", err)
		}
	}
	if _, err := unix.Write(d.fd, d.one[:]); err != nil {
		return d.goneErr("unmask", err)
	}
	return nil
}

// Wait blocks until the next interrupt, acknowledges it in the device's
// registers (if the profile names them), unmasks it, and reports the
// count since Start. It allocates nothing.
func (d *Device) Wait() (device.Completion, error) {
	// Watch the current-buffer register for the buffer's completion
	// before waiting for its interrupt (watch.go): its stamp, when it has
	// one, replaces the interrupt's wake-up time.
	watched, tight, seen := d.watch()
	for {
		if d.stopped.Load() {
			return d.stop()
		}
		// The wake-up is stamped at SCHED_FIFO, before the thread steps
		// down to run Go (internal/rt): the stamp does not wait for the
		// scheduler, the Go runtime or the read.
		_, woke, err := rt.Poll(d.pfd[:], -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return device.Completion{}, fmt.Errorf("uio: poll %s: %w", d.info.Dev, err)
		}
		if d.stopped.Load() {
			return d.stop()
		}
		ev := d.pfd[0].Revents
		if ev&unix.POLLIN == 0 {
			if ev&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
				return device.Completion{}, d.goneErr("poll", unix.EIO)
			}
			continue
		}
		n, err := unix.Read(d.fd, d.msg[:])
		now := woke
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil || n == 0 {
			if err == nil {
				err = unix.EIO // the emulator closed: end of file
			}
			return device.Completion{}, d.goneErr("read", err)
		}
		if n != MsgSize {
			return device.Completion{}, fmt.Errorf("uio: %s: %w: %d-byte interrupt count", d.info.Dev, ErrProtocol, n)
		}
		raw := binary.LittleEndian.Uint32(d.msg[:])
		base := !d.haveBase
		var delta uint64
		if base {
			// The first interrupt after Start only sets the base. It
			// may have been pending while the interrupt was masked
			// (since open, or since the device's last reader) and
			// been delivered the moment Start unmasked it, so its time
			// says when Start ran, not when its buffer completed: as
			// Completion 1 it would put the drift controller's first
			// clock measurement a period or more off. The next
			// interrupt cannot be stale: the line is unmasked again
			// microseconds after this read.
			d.haveBase, d.lastRaw, d.checkBase = true, raw, true
			d.shift = d.nextBuffer(raw)
		} else {
			delta = uint64(raw - d.lastRaw) // uint32 difference: the count wraps
			d.count += delta
			d.lastRaw = raw
		}
		if r := d.cfg.Profile.Registers; r != nil && r.IRQAck >= 0 {
			atomic.StoreUint32(d.reg(r.IRQAck), r.AckValue)
		}
		if _, err := unix.Write(d.fd, d.one[:]); err != nil {
			return device.Completion{}, d.goneErr("unmask", err)
		}
		if base {
			continue
		}
		if d.checkBase {
			d.realign()
			d.checkBase = false
		}
		t, late := now, true
		switch {
		case seen && delta == 1:
			// The register moved once and one interrupt came: the
			// watched stamp is this buffer's, unless it is a fluke
			// (the register written late): then the prediction is.
			t, late = watched, false
			if tight {
				if t, tight = d.pred.Judge(d.count, watched); tight {
					d.pred.Learn(d.count, t)
				}
			}
		case delta > 1:
			// Several buffers completed since the last Wait (this
			// thread stalled, or interrupts were lost): the newest is
			// reported, and it completed when the device's period says,
			// not when this thread got round to it.
			if p, ok := d.pred.Predict(d.count); ok {
				t, late = min(p, now), p > now
			}
		}
		d.prevTime = t
		return device.Completion{Count: d.count, Time: t, Late: late}, nil
	}
}

// nextBuffer is the ring index of the buffer that completes with the
// interrupt after raw, Completion 1: the current_buffer register says it
// when the profile has one (the buffer being filled), else the cumulative
// count does, buffers having completed round-robin from 0.
func (d *Device) nextBuffer(raw uint32) int {
	n := len(d.cfg.Profile.Buffers)
	if r := d.cfg.Profile.Registers; r != nil && r.CurrentBuffer >= 0 {
		cur := int(atomic.LoadUint32(d.reg(r.CurrentBuffer)))
		if cur < n {
			return cur
		}
		d.log.Warn("uio: current_buffer register out of range; lining up by count", "value", cur, "buffers", n)
	}
	return int(uint64(raw) % uint64(n))
}

// realign checks, at the first Completion after the base, that the
// buffer the engine is about to read is not the one the DMA engine is
// filling, by the current-buffer register when the profile has one. It
// can be: the register that set the ring's base is read after the base
// interrupt, and a buffer may complete in between (the emulator delivers
// an interrupt held while masked and completes the next buffer on the
// same tick), leaving the ring one buffer ahead; the engine would read
// the buffer being written, and the watcher would take every buffer for
// done before it was. After a completion the engine fills the next
// buffer, never the one that completed, so a register that still shows
// it means one ahead: step back. Only then: later, a reader that fell a
// whole ring behind would see the same register and be moved wrongly.
func (d *Device) realign() {
	r := d.cfg.Profile.Registers
	if r == nil || r.CurrentBuffer < 0 || d.regs == nil {
		return
	}
	n := uint64(len(d.cfg.Profile.Buffers))
	cur := uint64(atomic.LoadUint32(d.reg(r.CurrentBuffer)))
	if cur != (uint64(d.shift)+d.count-1)%n {
		return
	}
	d.shift = int((uint64(d.shift) + n - 1) % n)
	d.log.Debug("uio: a buffer completed while the ring's base was read; realigned", "count", d.count, "register", cur)
}

// reg is the 32-bit device register at offset off of the register map
// (open checked the map's alignment).
func (d *Device) reg(off int64) *uint32 { return (*uint32)(unsafe.Pointer(&d.regs[off])) }

func (d *Device) stop() (device.Completion, error) {
	return device.Completion{}, device.ErrStopped
}

// goneErr classifies err on the device: EIO, a hang-up or a closed socket
// mean the device went away (driver unbound, emulator gone).
func (d *Device) goneErr(op string, err error) error {
	switch {
	case errors.Is(err, unix.EIO), errors.Is(err, unix.ENODEV), errors.Is(err, unix.ECONNRESET),
		errors.Is(err, unix.EPIPE), errors.Is(err, unix.ENOTCONN), errors.Is(err, unix.EBADF):
		return fmt.Errorf("uio: %s %s: %w (%w)", op, d.info.Dev, device.ErrGone, err)
	}
	return fmt.Errorf("uio: %s %s: %w", op, d.info.Dev, err)
}

// Stop wakes a blocked Wait, which returns ErrStopped.
func (d *Device) Stop() error {
	d.stopped.Store(true)
	var one [8]byte
	binary.LittleEndian.PutUint64(one[:], 1)
	if _, err := unix.Write(d.wake, one[:]); err != nil && err != unix.EAGAIN {
		return fmt.Errorf("uio: wake: %w", err)
	}
	return nil
}

// ReopenPoll is how often Reopen looks for the device.
const ReopenPoll = 100 * time.Millisecond

// Reopen waits until a device of the same name is back and fits the
// profile, and opens it again. Call it after Wait returned ErrGone.
func (d *Device) Reopen(stop func() bool) error {
	d.release()
	said := false
	for {
		if stop != nil && stop() {
			return device.ErrStopped
		}
		err := d.open()
		if err == nil {
			return nil
		}
		if !said {
			d.log.Info("uio: waiting for the device to return", "name", d.cfg.Name, "root", d.cfg.Root, "now", err)
			said = true
		}
		time.Sleep(ReopenPoll)
	}
}

// release unmaps and closes everything open() made.
func (d *Device) release() {
	if d.view != nil {
		d.view.Close()
		d.view = nil
	}
	for m := range d.maps {
		if d.maps[m] != nil {
			unix.Munmap(d.maps[m])
		}
		d.maps[m], d.mem[m] = nil, nil
	}
	d.regs = nil
	for _, f := range d.memfds {
		if f >= 0 {
			unix.Close(f)
		}
	}
	d.memfds = nil
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
	d.socket = false
}

// Close releases the device.
func (d *Device) Close() error {
	d.stopped.Store(true)
	d.release()
	if d.wake >= 0 {
		unix.Close(d.wake)
		d.wake = -1
	}
	return nil
}

// nowNs stamps interrupts on CLOCK_MONOTONIC without a system call
// (internal/monotime): the stamp must not wait for the scheduler.
func nowNs() int64 { return monotime.Now() }
