package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/device"
)

// Config sets up a simulated grabber. The zero value of every optional
// field means "off".
type Config struct {
	Format device.Format
	Signal Signal
	Freq   float64 // sine base frequency, Hz; 0 means 997

	PPM        float64       // device clock offset from nominal, parts per million
	Jitter     time.Duration // each interrupt is seen up to this late (uniform)
	LoseIRQ    float64       // probability that an interrupt is not delivered
	Stall      time.Duration // the device's interrupts are held this long...
	StallEvery time.Duration // ...once every StallEvery

	Clock Clock  // nil: the real CLOCK_MONOTONIC
	Seed  uint64 // for jitter and lost interrupts; runs are reproducible
}

// DefaultFreq is the sine base frequency: a prime number of hertz, so its
// period never lines up with buffer boundaries.
const DefaultFreq = 997

// Grabber is the simulated device. Its methods other than Stop are for the
// engine's one thread.
type Grabber struct {
	cfg   Config
	clock Clock
	gen   *Generator
	fd    int
	view  *device.RingView
	rng   *rand.Rand

	periodNs float64 // true interrupt spacing on the device clock
	t0       int64   // Start time
	next     uint64  // next interrupt number due (1-based)
	filled   uint64  // interrupts whose buffers have been written
	last     int64   // last reported time, to keep reports monotonic
	stopped  atomic.Bool
	started  bool

	isStopped func() bool // stopped.Load, bound once: a method value per Wait would allocate
}

// New creates a simulated grabber; nothing runs until Start.
func New(cfg Config) (*Grabber, error) {
	f := cfg.Format
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if cfg.Freq == 0 {
		cfg.Freq = DefaultFreq
	}
	switch {
	case math.IsNaN(cfg.PPM) || math.Abs(cfg.PPM) > 100_000:
		return nil, fmt.Errorf("sim: clock offset %g ppm is outside ±100000", cfg.PPM)
	case cfg.LoseIRQ < 0 || cfg.LoseIRQ >= 1:
		return nil, fmt.Errorf("sim: lost-interrupt probability %g is outside [0, 1)", cfg.LoseIRQ)
	case cfg.Jitter < 0 || cfg.Stall < 0 || cfg.StallEvery < 0:
		return nil, fmt.Errorf("sim: negative jitter or stall")
	case cfg.Stall > 0 && cfg.StallEvery <= cfg.Stall:
		return nil, fmt.Errorf("sim: stalls of %v need a longer interval than %v", cfg.Stall, cfg.StallEvery)
	}
	gen, err := NewGenerator(cfg.Signal, f, cfg.Freq)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	g := &Grabber{
		cfg:      cfg,
		clock:    cfg.Clock,
		gen:      gen,
		rng:      rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		periodNs: float64(f.Period) * 1e9 / (float64(f.Rate) * (1 + cfg.PPM*1e-6)),
	}
	if g.clock == nil {
		g.clock = RealClock{}
	}
	g.isStopped = g.stopped.Load
	if err := g.mapBuffers(); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return g, nil
}

// mapBuffers puts the SG buffers in one memfd, out of order and with gaps,
// the way buffers allocated at hardware init end up, and maps them through
// device.MapRing: page-multiple buffers get the virtual contiguous map,
// others the slice list.
func (g *Grabber) mapBuffers() error {
	f := g.cfg.Format
	size := f.BufferBytes()
	page := os.Getpagesize()
	align := 64
	if size%page == 0 {
		align = page
	}
	stride := (size+align-1)/align*align + align // one alignment unit of gap
	fd, err := unix.MemfdCreate("sgbridge-sim", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("memfd: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(stride*f.Buffers)); err != nil {
		unix.Close(fd)
		return fmt.Errorf("size memfd: %w", err)
	}
	regions := make([]device.Region, f.Buffers)
	for i := range regions {
		// Buffer i sits in slot (i·k) mod N for k coprime with N: a
		// permutation that scatters neighbours.
		slot := (i * scatter(f.Buffers)) % f.Buffers
		regions[i] = device.Region{FD: fd, Offset: int64(slot * stride), Length: size}
	}
	v, err := device.MapRing(regions, unix.PROT_READ|unix.PROT_WRITE)
	if err != nil {
		unix.Close(fd)
		return err
	}
	g.fd, g.view = fd, v
	return nil
}

// scatter returns a step coprime with n (and not 1 when n > 2).
func scatter(n int) int {
	for k := n/2 + 1; k < n; k++ {
		if gcd(k, n) == 1 {
			return k
		}
	}
	return 1
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Format returns the stream format.
func (g *Grabber) Format() device.Format { return g.cfg.Format }

// View is the SG ring view over the simulated buffers.
func (g *Grabber) View() *device.RingView { return g.view }

// Buffer returns SG buffer i.
func (g *Grabber) Buffer(i int) []byte { return g.view.Buffer(i) }

// Start arms the device: interrupt 1 falls one period from now.
func (g *Grabber) Start() error {
	if g.started {
		return fmt.Errorf("sim: already started")
	}
	g.started = true
	g.t0 = g.clock.Now()
	g.last = g.t0
	g.next = 1
	return nil
}

// due is the device-clock time of interrupt k.
func (g *Grabber) due(k uint64) int64 { return g.t0 + int64(float64(k)*g.periodNs) }

// stallEnd returns the end of the stall window holding t, or 0.
func (g *Grabber) stallEnd(t int64) int64 {
	if g.cfg.Stall <= 0 {
		return 0
	}
	every, d := int64(g.cfg.StallEvery), int64(g.cfg.Stall)
	rel := t - g.t0
	start := rel / every * every
	if start == 0 || rel >= start+d { // no stall at the very start
		return 0
	}
	return g.t0 + start + d
}

// Wait returns at the next delivered interrupt. Interrupts lost or held by
// a stall show up as a jump in Count, exactly as UIO's cumulative count
// shows them.
func (g *Grabber) Wait() (device.Completion, error) {
	if !g.started {
		return device.Completion{}, fmt.Errorf("sim: Wait before Start")
	}
	k := g.next
	for g.cfg.LoseIRQ > 0 && g.rng.Float64() < g.cfg.LoseIRQ {
		k++ // this interrupt never reaches us; the next one carries its count
	}
	t := g.due(k)
	if end := g.stallEnd(t); end != 0 {
		t = end
		for g.due(k+1) <= end {
			k++
		}
	}
	if g.cfg.Jitter > 0 {
		t += int64(g.rng.Float64() * float64(g.cfg.Jitter))
	}
	if t < g.last {
		t = g.last
	}
	g.clock.SleepUntil(t, g.isStopped)
	if g.stopped.Load() {
		return device.Completion{}, device.ErrStopped
	}
	g.fill(k)
	g.next, g.last = k+1, t
	// The interrupt is modelled arriving Jitter late at most, never early.
	return device.Completion{Count: k, Time: t, Late: true}, nil
}

// fill writes the buffers of interrupts filled+1..k as DMA would have; when
// more than a ring's worth completed, only the newest survive, as on
// hardware.
func (g *Grabber) fill(k uint64) {
	n := uint64(g.cfg.Format.Buffers)
	from := g.filled + 1
	if k >= n && from < k-n+1 {
		from = k - n + 1
	}
	for j := from; j <= k; j++ {
		g.gen.Fill(g.view.Buffer(int((j-1)%n)), (j-1)*uint64(g.cfg.Format.Period))
	}
	g.filled = k
}

// Stop halts the device; a blocked Wait returns ErrStopped.
func (g *Grabber) Stop() error {
	g.stopped.Store(true)
	return nil
}

// Close unmaps the buffers.
func (g *Grabber) Close() error {
	g.stopped.Store(true)
	err := g.view.Close()
	if cerr := unix.Close(g.fd); err == nil {
		err = cerr
	}
	return err
}

var _ device.Grabber = (*Grabber)(nil)

// Restart makes a stopped or running simulator ready for Start again, as
// a device that was unplugged and plugged back in: the interrupt count
// and the signal restarts from frame 0, as a re-initialised device would.
func (g *Grabber) Restart() error {
	g.started = false
	g.stopped.Store(false)
	g.filled = 0
	return nil
}
