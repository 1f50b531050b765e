package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/bridge/ring"
	"github.com/sgbridge/sgbridge/device"
)

// Sink is the graph side: a client whose process callback, in C, drains
// the ring. It is defined here, where it is used; bridge/jack implements it.
type Sink interface {
	Rate() int   // graph sample rate
	Period() int // graph period (frames per cycle)
	// Start registers one port per ring channel and starts draining r.
	Start(r *ring.Ring) error
	// SetLatency reports the capture latency, in frames, to the graph.
	SetLatency(frames int)
	Xruns() uint64
	// Done is closed when the graph dropped the sink (server gone); Err
	// says why.
	Done() <-chan struct{}
	Err() error
}

// Config sets up an Engine.
type Config struct {
	Device device.Grabber
	Sink   Sink
	// Margin is the number of frames the queue holds beyond one device
	// period and one graph period, to ride out producer stalls. 0 picks
	// DefaultMargin.
	Margin int
	// WaitForDevice keeps the sink running when the device goes away
	// (device.ErrGone) and a Reopener backend waits for it to return;
	// without it a vanished device ends Run with an error.
	WaitForDevice bool
	Log           *slog.Logger // nil: slog.Default()
}

// DefaultMargin covers interrupt jitter and a Go GC pause on a loaded
// machine (about 1.3 ms at 48 kHz); the worst stall actually seen is in
// Stats.WorstStall so an operator can tune --latency with numbers.
const DefaultMargin = 64

// Engine moves audio from a Grabber to a Sink.
type Engine struct {
	dev    device.Grabber
	sink   Sink
	wait   bool
	log    *slog.Logger
	format device.Format
	ring   *ring.Ring
	target int // queue fill at which the sink starts, frames

	scratch [][]float32 // one device period, planar

	// Loop state, owned by the loop's thread.
	lastCount  uint64
	prevTime   int64  // previous interrupt time
	prevFrames uint64 // frames written as of that interrupt
	latencySet bool

	stats   counters
	stopped atomic.Bool
}

// counters are written by the loop and read by Stats from anywhere.
type counters struct {
	interrupts  atomic.Uint64
	lostIRQs    atomic.Uint64 // interrupts never seen (count jumps)
	lostFrames  atomic.Uint64 // frames already overwritten, replaced by silence
	overflow    atomic.Uint64 // frames dropped because the queue was full
	worstStall  atomic.Int64  // ns between an interrupt and its handling, worst
	latency     atomic.Int64  // measured capture latency, frames ×1000
	fill        atomic.Int64  // queue fill right after the last write
	lastIRQTime atomic.Int64
	gone        atomic.Uint64 // times the device went away and came back
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Interrupts     uint64  `json:"interrupts"`
	LostIRQs       uint64  `json:"lost_irqs"`
	LostFrames     uint64  `json:"lost_frames"`
	Overflows      uint64  `json:"overflow_frames"` // frames dropped at a full queue
	UnderrunEvents uint64  `json:"underruns"`       // sink cycles that found the queue short
	UnderrunFrames uint64  `json:"underrun_frames"`
	Xruns          uint64  `json:"xruns"`
	Fill           int     `json:"fill"`           // frames in the queue right after the last interrupt
	Target         int     `json:"target"`         // start-up fill, frames
	Capacity       int     `json:"capacity"`       // queue capacity, frames
	Latency        float64 `json:"latency_frames"` // measured capture latency, frames (0 until known)
	WorstStall     float64 `json:"worst_stall_s"`  // seconds between an interrupt and its handling, worst seen
	Running        bool    `json:"running"`        // the sink has started draining
	DeviceReturns  uint64  `json:"device_returns"` // times the device vanished and was reopened
}

// New checks that dev and sink can be bridged and sizes the queue.
func New(cfg Config) (*Engine, error) {
	if cfg.Device == nil || cfg.Sink == nil {
		return nil, errors.New("bridge: need a device and a sink")
	}
	f := cfg.Device.Format()
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if r := cfg.Sink.Rate(); r != f.Rate {
		return nil, fmt.Errorf("the device runs at %d Hz and the graph at %d Hz: without resampling they must match (drop --no-resample, or run the graph at %d Hz)", f.Rate, r, f.Rate)
	}
	margin := cfg.Margin
	if margin == 0 {
		margin = DefaultMargin
	}
	if margin < 0 {
		return nil, fmt.Errorf("bridge: negative latency margin %d", margin)
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	target := f.Period + cfg.Sink.Period() + margin
	// Room for the target, a whole SG ring arriving at once after a stall,
	// and the graph not draining for as long again.
	r, err := ring.New(f.Channels, 2*(target+f.Period*f.Buffers))
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	e := &Engine{
		dev:     cfg.Device,
		sink:    cfg.Sink,
		wait:    cfg.WaitForDevice,
		log:     log,
		format:  f,
		ring:    r,
		target:  target,
		scratch: make([][]float32, f.Channels),
	}
	for c := range e.scratch {
		e.scratch[c] = make([]float32, f.Period)
	}
	r.SetStartFill(target)
	return e, nil
}

// Ring is the engine's queue, for sinks and tests.
func (e *Engine) Ring() *ring.Ring { return e.ring }

// Close frees the queue. Call it after Run returned and the sink is closed.
func (e *Engine) Close() error { return e.ring.Close() }

// Run starts the sink and the device and moves audio until ctx is done,
// the device fails or the sink is dropped by its server. It returns nil
// only for ctx.
func (e *Engine) Run(ctx context.Context) error {
	if !e.ring.Locked() {
		e.log.Warn("queue memory is not locked (RLIMIT_MEMLOCK too low?): paging could cause underruns")
	}
	if err := e.sink.Start(e.ring); err != nil {
		return fmt.Errorf("start sink: %w", err)
	}
	if err := e.dev.Start(); err != nil {
		return fmt.Errorf("start device: %w", err)
	}
	e.log.Info("bridging", "device", e.format.String(), "graph_period", e.sink.Period(), "target_fill", e.target, "queue", e.ring.Capacity())

	loopErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		loopErr <- e.loop()
	}()

	var err error
	select {
	case <-ctx.Done():
	case err = <-loopErr:
	case <-e.sink.Done():
		err = fmt.Errorf("graph: %w", e.sink.Err())
	}
	e.stopped.Store(true)
	e.dev.Stop()
	wg.Wait()
	if err == nil {
		select {
		case err = <-loopErr:
		default:
		}
	}
	return err
}

// loop is the interrupt loop. It owns one OS thread for its life so that
// scheduling attributes set on it stay with it.
func (e *Engine) loop() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Sleeps end within a microsecond of their deadline instead of the
	// default 50 µs slack: less timestamp noise for the drift estimate.
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	for {
		c, err := e.dev.Wait()
		switch {
		case err == nil:
			e.handle(c, nowNs())
			continue
		case e.stopped.Load():
			return nil
		case errors.Is(err, device.ErrGone):
			if err := e.awaitDevice(err); err != nil {
				return err
			}
			continue
		}
		return fmt.Errorf("device: %w", err)
	}
}

// awaitDevice rides out a vanished device: the sink keeps its ports and
// plays silence (topped up to the target so it never underruns) while the
// backend waits for the device; then the device starts again and the
// latency is measured anew.
func (e *Engine) awaitDevice(cause error) error {
	r, ok := e.dev.(device.Reopener)
	if !e.wait || !ok {
		hint := ""
		if ok {
			hint = " (run with --wait to wait for it to return)"
		}
		return fmt.Errorf("device: %w%s", cause, hint)
	}
	e.log.Warn("device gone; waiting for it to return, the ports stay and play silence", "err", cause)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the only producer until quit: the loop is blocked in Reopen
		defer wg.Done()
		e.feedSilence(quit)
	}()
	err := r.Reopen(e.stopped.Load)
	close(quit)
	wg.Wait()
	if err != nil {
		if e.stopped.Load() {
			return nil
		}
		return fmt.Errorf("device did not return: %w", err)
	}
	if err := e.dev.Start(); err != nil {
		return fmt.Errorf("restart device: %w", err)
	}
	e.lastCount, e.prevTime, e.latencySet = 0, 0, false
	e.stats.gone.Add(1)
	e.log.Info("device is back; resuming", "returns", e.stats.gone.Load())
	return nil
}

// feedSilence keeps the queue at its target with silence, once per graph
// period, until quit is closed.
func (e *Engine) feedSilence(quit <-chan struct{}) {
	period := time.Duration(e.sink.Period()) * time.Second / time.Duration(e.format.Rate)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if n := e.target - e.ring.Fill(); n > 0 {
			e.ring.WriteSilence(n)
		}
		select {
		case <-quit:
			return
		case <-t.C:
		}
	}
}

// handle moves the buffers completed since the previous interrupt into the
// queue. It runs once per interrupt and allocates nothing.
func (e *Engine) handle(c device.Completion, now int64) {
	f := e.format
	n := uint64(f.Buffers)
	delta := c.Count - e.lastCount
	if c.Count <= e.lastCount { // a device that restarted its count
		delta = 1
	}
	e.lastCount = c.Count
	e.stats.interrupts.Add(1)
	if delta > 1 {
		e.stats.lostIRQs.Add(delta - 1)
	}
	// The buffer after the newest is being written while we read: only
	// n-1 completed buffers are safe. Older ones are gone; their frames
	// become silence so the timeline stays right.
	if delta > n-1 {
		gone := delta - (n - 1)
		e.stats.lostFrames.Add(gone * uint64(f.Period))
		for range gone {
			e.push(nil)
		}
		delta = n - 1
	}
	for j := c.Count - delta + 1; j <= c.Count; j++ {
		device.Convert(e.scratch, e.dev.Buffer(int((j-1)%n)), f.Sample, f.Period)
		e.push(e.scratch)
	}
	if stall := now - c.Time; stall > e.stats.worstStall.Load() {
		e.stats.worstStall.Store(stall)
	}
	e.measureLatency(c.Time)
	e.stats.fill.Store(int64(e.ring.Fill()))
	e.stats.lastIRQTime.Store(c.Time)
}

// push writes one period to the queue; nil writes silence.
func (e *Engine) push(p [][]float32) {
	period := e.format.Period
	var n int
	if p == nil {
		n = e.ring.WriteSilence(period)
	} else {
		n = e.ring.Write(p, period)
	}
	if n < period {
		e.stats.overflow.Add(uint64(period - n))
	}
}

// measureLatency finds the capture latency once the sink runs: at a sink
// cycle start tc between two interrupts, the device had captured
// prevFrames + (tc - prevTime)·rate frames and the sink had read ReadPos;
// the difference is how old the frame at the port is. Without resampling
// both sides run on one clock here, so it holds from then on, and it is
// what the graph is told.
func (e *Engine) measureLatency(t int64) {
	written := e.ring.Written()
	defer func() { e.prevTime, e.prevFrames = t, written }()
	if e.latencySet || e.prevTime == 0 || !e.ring.Running() {
		return
	}
	tm, ok := e.ring.Timing()
	if !ok || tm.CycleStart < e.prevTime || tm.CycleStart >= t {
		return
	}
	captured := float64(e.prevFrames) + float64(tm.CycleStart-e.prevTime)*float64(e.format.Rate)/1e9
	lat := captured - float64(tm.ReadPos)
	e.stats.latency.Store(int64(math.Round(lat * 1000)))
	e.latencySet = true
	e.sink.SetLatency(int(math.Round(lat)))
	e.log.Info("capture latency", "frames", math.Round(lat*10)/10, "ms", math.Round(lat/float64(e.format.Rate)*1e5)/100)
}

// Stats returns the counters now; safe from any goroutine.
func (e *Engine) Stats() Stats {
	rs := e.ring.Stats()
	return Stats{
		Interrupts:     e.stats.interrupts.Load(),
		LostIRQs:       e.stats.lostIRQs.Load(),
		LostFrames:     e.stats.lostFrames.Load(),
		Overflows:      e.stats.overflow.Load(),
		UnderrunEvents: rs.UnderrunEvents,
		UnderrunFrames: rs.UnderrunFrames,
		Xruns:          e.sink.Xruns(),
		Fill:           int(e.stats.fill.Load()),
		Target:         e.target,
		Capacity:       e.ring.Capacity(),
		Latency:        float64(e.stats.latency.Load()) / 1000,
		WorstStall:     float64(e.stats.worstStall.Load()) / 1e9,
		Running:        e.ring.Running(),
		DeviceReturns:  e.stats.gone.Load(),
	}
}

func nowNs() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
