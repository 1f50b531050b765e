package portaudio

import (
	"errors"
	"fmt"
	"github.com/sgbridge/sgbridge/internal/monotime"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pa "github.com/gordonklaus/portaudio"
	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/device/stamp"
)

// Config opens a PortAudio capture device. Zero fields take the device's
// defaults.
type Config struct {
	// Backend is "alsa" (Name is an ALSA PCM: a PortAudio ALSA device
	// name, its "(hw:X,Y)" suffix, or any PCM alsa-lib knows) or "pa"
	// (Name is a PortAudio device index or name, any host API).
	Backend string
	Name    string

	Channels int                 // 0: the device's input channels (at most device.MaxChannels)
	Rate     int                 // 0: the device's default rate
	Sample   device.SampleFormat // 0: S32_LE, which carries 16- and 24-bit cards exactly
	Period   int                 // frames per read, one "interrupt"; 0: 256
	Buffers  int                 // periods in the copy ring; 0: 8
	// Periods is the device buffer PortAudio is asked for, in periods:
	// room to ride out a late reader before the device overruns. It adds
	// no latency, since every read returns as soon as one period is in.
	// 0: 3, the most for which PortAudio's ALSA host API still makes the
	// ALSA period one read long (with 4 it picks periods of two reads,
	// and every other Completion would come a period late).
	Periods int
	// Timeout is how long Wait waits for a period before it takes the
	// device for gone, for a device that stops without reporting an
	// error. 0: DefaultTimeout; never less than 8 periods.
	Timeout time.Duration
	Log     *slog.Logger // nil: slog.Default()

	byString bool // tests: open an ALSA PCM by name even if PortAudio lists it
}

// Device is an open PortAudio input: a device.Grabber and a
// device.Reopener.
type Device struct {
	cfg    Config
	log    *slog.Logger
	format device.Format
	desc   string // the device as PortAudio names it
	pcm    string // ALSA PCM opened by name, "" when by index
	index  int

	mu   sync.Mutex // guards st against Close racing the loop
	st   *stream
	ring *device.RingView
	bufs [][]byte

	// Interrupt loop state, owned by the thread calling Wait.
	next     uint64 // Count of the next read
	prevTime int64
	started  bool
	pred     stamp.Predictor // when the next period is due (wait.go)

	overflows atomic.Uint64 // overflow events since Open
	lost      atomic.Uint64 // periods estimated lost to overflows
	stopped   atomic.Bool
}

var (
	_ device.Grabber  = (*Device)(nil)
	_ device.Reopener = (*Device)(nil)
)

// Open initialises PortAudio, finds the device and opens its stream.
func Open(cfg Config) (*Device, error) {
	if cfg.Backend != "alsa" && cfg.Backend != "pa" {
		return nil, fmt.Errorf("portaudio: unknown backend %q (want alsa or pa)", cfg.Backend)
	}
	if cfg.Name == "" && cfg.Backend == "alsa" {
		cfg.Name = "default"
	}
	if cfg.Sample == 0 {
		cfg.Sample = device.S32LE
	}
	if cfg.Period == 0 {
		cfg.Period = 256
	}
	if cfg.Buffers == 0 {
		cfg.Buffers = 8
	}
	if cfg.Periods == 0 {
		cfg.Periods = 3
	}
	if _, err := paFormat(cfg.Sample); err != nil {
		return nil, fmt.Errorf("portaudio: %w", err)
	}
	d := &Device{cfg: cfg, log: cfg.Log}
	if d.log == nil {
		d.log = slog.Default()
	}
	if err := initialize(); err != nil {
		return nil, err
	}
	if err := d.open(); err != nil {
		terminate()
		return nil, err
	}
	f := d.format
	d.bufs = make([][]byte, f.Buffers)
	for i := range d.bufs {
		d.bufs[i] = make([]byte, f.BufferBytes())
	}
	d.ring = device.SliceRing(d.bufs)
	return d, nil
}

// open finds the device in PortAudio's current list and opens its stream.
func (d *Device) open() error {
	dev, pcm, err := find(d.cfg.Backend, d.cfg.Name)
	if err != nil {
		return err
	}
	if d.cfg.byString {
		dev, pcm = nil, d.cfg.Name
	}
	f := device.Format{
		Rate: d.cfg.Rate, Channels: d.cfg.Channels, Sample: d.cfg.Sample,
		Period: d.cfg.Period, Buffers: d.cfg.Buffers,
	}
	index, desc := -1, pcm
	if dev != nil {
		index, desc = dev.Index, dev.Name
		if f.Channels == 0 {
			f.Channels = min(dev.MaxInputChannels, device.MaxChannels)
		}
		if f.Rate == 0 {
			f.Rate = int(dev.DefaultSampleRate)
		}
		if f.Channels > dev.MaxInputChannels {
			return fmt.Errorf("portaudio: %s has %d input channels, %d asked for (--channels)", dev.Name, dev.MaxInputChannels, f.Channels)
		}
		pcm = ""
	} else {
		// A PCM PortAudio does not list: no defaults to ask for.
		if f.Channels == 0 {
			f.Channels = 2
		}
		if f.Rate == 0 {
			f.Rate = 48000
		}
	}
	if d.format.Rate != 0 && f != d.format {
		return fmt.Errorf("portaudio: %s came back as %v, was %v", desc, f, d.format)
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("portaudio: %s: %w", desc, err)
	}
	latency := float64(f.Period*d.cfg.Periods) / float64(f.Rate)
	st, err := openStream(index, pcm, f, latency)
	if err != nil && pcm != "" {
		return fmt.Errorf("portaudio: ALSA PCM %q is not among PortAudio's capture devices, and opening it by name failed (%v): sgbridge devices lists them: %w", pcm, f, err)
	}
	if err != nil {
		return fmt.Errorf("portaudio: open %s (%v): %w", desc, f, err)
	}
	d.mu.Lock()
	d.st = st
	d.mu.Unlock()
	d.format, d.desc, d.pcm, d.index = f, desc, pcm, index
	return nil
}

// Format returns the stream format.
func (d *Device) Format() device.Format { return d.format }

// Description is the device as PortAudio names it (or the ALSA PCM name).
func (d *Device) Description() string { return d.desc }

// Latency is the input latency PortAudio reports for the stream, seconds.
func (d *Device) Latency() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st == nil {
		return 0
	}
	return d.st.latency()
}

// Overflows is the number of input overflows since Open: times the device
// overran because a read came too late. LostPeriods is how many periods
// they cost, estimated from the time between reads.
func (d *Device) Overflows() uint64   { return d.overflows.Load() }
func (d *Device) LostPeriods() uint64 { return d.lost.Load() }

// Buffer returns ring buffer i.
func (d *Device) Buffer(i int) []byte { return d.bufs[i] }

// Start starts the stream; the first Wait returns one period later.
func (d *Device) Start() error {
	if d.st == nil {
		return fmt.Errorf("portaudio: %s: start: not open", d.desc)
	}
	d.stopped.Store(false)
	if err := d.st.start(); err != nil {
		return d.wrap("start", err)
	}
	d.next, d.prevTime, d.started = 1, nowNs(), true
	d.pred.Reset()
	return nil
}

// Wait waits for the next period, reads it into the next ring buffer and
// returns its Completion, stamped with the time the period completed
// (see awaitPeriod). After an input overflow the periods lost (estimated
// from the time since the previous completion) are skipped in the count
// and their buffers silenced. A device that vanished makes it return an
// error wrapping device.ErrGone within a period, or, for one that just
// stops delivering, within Config.Timeout.
func (d *Device) Wait() (device.Completion, error) {
	if !d.started {
		return device.Completion{}, fmt.Errorf("portaudio: Wait before Start")
	}
	f := d.format
	n := uint64(f.Buffers)
	buf := d.bufs[(d.next-1)%n]
	// Sleeps of tens of microseconds on this thread: no timer slack (a
	// real-time thread has none anyway).
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	t, overflowed, err := d.awaitPeriod()
	if err == nil {
		// At least one period is in: PortAudio copies it without
		// polling, the only place its 19.6 ALSA code can spin.
		err = d.read(buf, f.Period)
	}
	if d.stopped.Load() {
		return device.Completion{}, device.ErrStopped
	}
	if err == errOverflow {
		overflowed, err = true, nil
	}
	if err != nil {
		d.started = false
		return device.Completion{}, d.wrap("read", err)
	}
	k := d.next
	if overflowed {
		d.pred.Forget() // a restarted stream: a new timeline
		d.overflows.Add(1)
		if lost := d.lostPeriods(t); lost > 0 {
			d.lost.Add(lost)
			// The data just read belongs after the gap: move it to the
			// buffer of interrupt k+lost and silence those in between
			// (the engine reads at most Buffers-1 of them).
			k += lost
			copy(d.bufs[(k-1)%n], buf)
			for j := k - min(lost, n-1); j < k; j++ {
				clear(d.bufs[(j-1)%n])
			}
		}
	}
	d.next, d.prevTime = k+1, t
	return device.Completion{Count: k, Time: t}, nil
}

// avail and read call the stream under mu, so that a Close from another
// goroutine cannot free it in between.
func (d *Device) avail() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st == nil {
		return 0, errClosed
	}
	return d.st.avail()
}

func (d *Device) read(buf []byte, frames int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st == nil {
		return errClosed
	}
	return d.st.read(buf, frames)
}

var errClosed = errors.New("stream closed")

// lostPeriods estimates how many periods an overflow dropped: the periods
// that fit in the time since the previous read, beyond the one just read.
func (d *Device) lostPeriods(t int64) uint64 {
	if d.next == 1 {
		return 0
	}
	period := float64(d.format.Period) * 1e9 / float64(d.format.Rate)
	k := int64(float64(t-d.prevTime)/period+0.5) - 1
	return uint64(max(k, 0))
}

// wrap adds context to a stream error and marks a device that went away.
func (d *Device) wrap(op string, err error) error {
	if gone(err) {
		return fmt.Errorf("portaudio: %s %s: %w (%v): it was unplugged or its driver went away; with --wait sgbridge waits for it to return",
			op, d.desc, device.ErrGone, err)
	}
	return fmt.Errorf("portaudio: %s %s: %w", op, d.desc, err)
}

// gone reports whether err says the device is no longer there: a period
// that did not come (a device that stopped delivering), PortAudio's
// device-unavailable or timeout, or any ALSA error of a stream call
// (unplugged: ENODEV, EBADFD; driver gone: ENXIO, EIO; suspended:
// ESTRPIPE). The last are not told apart by their code, because
// PortAudio 19.6 records the ALSA error only when the failing call runs
// on the thread that initialised PortAudio (Go's threads rarely are), so
// the code it reports is often stale or 0. A running stream whose ALSA
// calls fail cannot go on either way, and reopening it is the way back.
func gone(err error) bool {
	if _, ok := err.(errNoPeriod); ok {
		return true
	}
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case errDeviceUnavailable, errTimedOut, errHost:
		return true
	}
	return false
}

// Stop makes a waiting Wait return ErrStopped within one period (it
// looks at the flag each time it wakes).
func (d *Device) Stop() error {
	d.stopped.Store(true)
	return nil
}

// Close aborts and closes the stream and releases PortAudio.
func (d *Device) Close() error {
	d.stopped.Store(true)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st == nil {
		return nil
	}
	err := d.st.close()
	d.st = nil
	if terr := terminate(); err == nil && terr != nil {
		err = terr
	}
	if err != nil {
		return fmt.Errorf("portaudio: close %s: %w", d.desc, err)
	}
	return nil
}

// ReopenPoll is how often Reopen looks for the device.
const ReopenPoll = 250 * time.Millisecond

// Reopen closes the broken stream and waits until the device is back with
// the same format, rescanning PortAudio's device list (which it only
// builds at initialisation) each time. Call it after Wait returned an
// error wrapping ErrGone.
func (d *Device) Reopen(stop func() bool) error {
	d.mu.Lock()
	if d.st != nil {
		d.st.close()
		d.st = nil
		terminate()
	}
	d.mu.Unlock()
	d.started = false
	var last error
	for !stop() {
		if err := initialize(); err != nil {
			return err
		}
		err := d.open()
		if err == nil {
			for _, b := range d.bufs {
				clear(b)
			}
			d.log.Info("device is back", "device", d.desc)
			return nil
		}
		terminate()
		if last == nil || err.Error() != last.Error() {
			d.log.Debug("waiting for device", "device", d.cfg.Name, "err", err)
		}
		last = err
		time.Sleep(ReopenPoll)
	}
	// Close must still release PortAudio once: keep the reference count
	// balanced by holding one initialisation without a stream.
	if err := initialize(); err == nil {
		d.mu.Lock()
		d.st = nil
		d.mu.Unlock()
	}
	return device.ErrStopped
}

// nowNs reads CLOCK_MONOTONIC without a system call (internal/monotime):
// Wait reads it every few tens of microseconds while a period completes.
func nowNs() int64 { return monotime.Now() }

// find resolves a device name: a *pa.DeviceInfo from PortAudio's list, or
// for an ALSA PCM it does not list, the PCM name to open directly.
func find(backend, name string) (*pa.DeviceInfo, string, error) {
	devs, err := pa.Devices()
	if err != nil {
		return nil, "", fmt.Errorf("portaudio: list devices: %w", err)
	}
	if backend == "pa" {
		return findPA(devs, name)
	}
	var alsa []*pa.DeviceInfo
	for _, dv := range devs {
		if dv.HostApi != nil && dv.HostApi.Type == pa.ALSA && dv.MaxInputChannels > 0 {
			alsa = append(alsa, dv)
		}
	}
	if dv := matchALSA(alsa, name); dv != nil {
		return dv, "", nil
	}
	// Any PCM alsa-lib can open: plughw:CARD=USB, dsnoop:1, asound.conf's.
	return nil, name, nil
}

// hwSuffix is the "(hw:X,Y)" PortAudio appends to a card's device name.
var hwSuffix = regexp.MustCompile(`\((hw:\d+,\d+)\)$`)

// matchALSA finds name among PortAudio's ALSA capture devices: the whole
// name ("USB Audio: - (hw:1,0)", "sgtest"), its hw suffix ("hw:1,0"), or
// "hw:1" for device 0 of card 1.
func matchALSA(devs []*pa.DeviceInfo, name string) *pa.DeviceInfo {
	want := name
	if m := regexp.MustCompile(`^hw:(\d+)$`).FindStringSubmatch(name); m != nil {
		want = "hw:" + m[1] + ",0"
	}
	for _, dv := range devs {
		if dv.Name == name {
			return dv
		}
	}
	for _, dv := range devs {
		if m := hwSuffix.FindStringSubmatch(dv.Name); m != nil && m[1] == want {
			return dv
		}
	}
	return nil
}

// findPA resolves pa:INDEX or pa:NAME (exact, else a unique
// case-insensitive substring) among capture devices of every host API.
func findPA(devs []*pa.DeviceInfo, name string) (*pa.DeviceInfo, string, error) {
	if i, err := strconv.Atoi(name); err == nil {
		if i < 0 || i >= len(devs) {
			return nil, "", fmt.Errorf("portaudio: no device %d (there are %d; sgbridge devices lists them): %w", i, len(devs), errNotFound)
		}
		if devs[i].MaxInputChannels == 0 {
			return nil, "", fmt.Errorf("portaudio: device %d (%s) has no inputs", i, devs[i].Name)
		}
		return devs[i], "", nil
	}
	var hits []*pa.DeviceInfo
	for _, dv := range devs {
		if dv.MaxInputChannels == 0 {
			continue
		}
		if dv.Name == name {
			return dv, "", nil
		}
		if strings.Contains(strings.ToLower(dv.Name), strings.ToLower(name)) {
			hits = append(hits, dv)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], "", nil
	case 0:
		return nil, "", fmt.Errorf("portaudio: no capture device named %q (sgbridge devices lists them): %w", name, errNotFound)
	}
	var names []string
	for _, h := range hits {
		names = append(names, fmt.Sprintf("%d %q", h.Index, h.Name))
	}
	return nil, "", fmt.Errorf("portaudio: %q matches %s: give the index or the whole name", name, strings.Join(names, ", "))
}

var errNotFound = errors.New("not found")

// List returns the capture devices backend ("alsa" or "pa") can open,
// with their channels and default rate.
func List(backend string) ([]device.Info, error) {
	if err := initialize(); err != nil {
		return nil, err
	}
	defer terminate()
	devs, err := pa.Devices()
	if err != nil {
		return nil, fmt.Errorf("portaudio: list devices: %w", err)
	}
	var out []device.Info
	for _, dv := range devs {
		if dv.MaxInputChannels == 0 || dv.HostApi == nil {
			continue
		}
		desc := fmt.Sprintf("%d ch, %g Hz default, %s", dv.MaxInputChannels, dv.DefaultSampleRate, dv.HostApi.Name)
		switch {
		case backend == "alsa" && dv.HostApi.Type == pa.ALSA:
			name := dv.Name
			if m := hwSuffix.FindStringSubmatch(dv.Name); m != nil {
				name = m[1]
				desc = fmt.Sprintf("%q, %s", dv.Name, desc)
			}
			out = append(out, device.Info{Spec: device.Spec{Backend: "alsa", Name: name}, Description: desc})
		case backend == "pa":
			out = append(out, device.Info{Spec: device.Spec{Backend: "pa", Name: strconv.Itoa(dv.Index)},
				Description: fmt.Sprintf("%q, %s", dv.Name, desc)})
		}
	}
	return out, nil
}
