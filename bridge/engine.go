package bridge

import (
	"context"
	"errors"
	"fmt"
	"github.com/sgbridge/sgbridge/internal/monotime"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/bridge/drift"
	"github.com/sgbridge/sgbridge/bridge/ring"
	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/internal/rt"
	"github.com/sgbridge/sgbridge/resample"
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
	// FixedMargin keeps the margin where it starts. Otherwise, with drift
	// control, a stall longer than the margin that emptied the queue
	// raises the margin to cover it (up to MaxMargin): the one glitch the
	// stall caused carries the step, and stalls that long are absorbed
	// from then on.
	FixedMargin bool
	// Resample turns on drift control: the variable-ratio resampler
	// (Quality) steered by the drift controller holds the latency at
	// device period + graph period + resampler delay + Margin. Without it
	// samples pass through bit-exact and the rates must match.
	Resample bool
	Quality  resample.Quality
	// WaitForDevice keeps the sink running when the device goes away
	// (device.ErrGone) and a Reopener backend waits for it to return;
	// without it a vanished device ends Run with an error.
	WaitForDevice bool
	// Priority is the SCHED_FIFO priority asked for the interrupt loop's
	// waits (rt.DefaultPriority when 0; negative: none, the loop waits at
	// SCHED_OTHER like it runs).
	Priority int
	Log      *slog.Logger // nil: slog.Default()
}

// DefaultMargin is the queue margin beyond the least the queue needs (one
// device period, one graph period and, with drift control, the resampler
// delay): it covers the delay between an interrupt and its handling. With
// SCHED_FIFO that is tens of µs on a quiet machine, but the Go runtime can
// hold the loop back when its other threads are preempted: up to 0.8 ms
// was measured on a 2-core machine compiling at full load. 64 frames is
// 1.3 ms at 48 kHz. The worst stall seen is in Stats.WorstStall, so the
// margin can be set from numbers (--latency adds to it).
const DefaultMargin = 64

// MaxMargin is as far as stalls raise the margin: 20 ms. A virtual
// machine's host takes the CPU away for 5-30 ms now and then (measured on
// the 2-core CI machines); longer holds are not a latency to plan for.
const MaxMargin = 0.020 // s

// marginHeadroom is how much longer than the stall that emptied the queue
// the raised margin is: the next stall of that kind lands at another
// phase of the graph cycle.
const marginHeadroom = 1.25

// Engine moves audio from a Grabber to a Sink.
type Engine struct {
	dev    device.Grabber
	sink   Sink
	wait   bool
	prio   int
	log    *slog.Logger
	format device.Format
	ring   *ring.Ring
	target int // queue fill at which the sink starts, frames

	// The stall margin, graph frames: raised by stalls that emptied the
	// queue unless fixed (drift control only), never past maxMargin.
	margin, maxMargin int
	fixedMargin       bool
	underruns         uint64     // sink underrun events seen by the loop
	latencyMu         sync.Mutex // orders the reports of a raised target

	scratch [][]float32 // one device period, planar

	// Drift control (nil in pass-through mode).
	rs      *resample.Resampler
	ctl     *drift.Controller
	out     [][]float32 // resampler output, MaxOutput(period) frames
	view    [][]float32 // sub-slices of out handed to the ring
	last    []float32   // last sample written per channel
	from    []float32   // fade start value per channel
	fill    [][]float32 // frames written by a positive correction
	drop    int         // output frames still to withhold
	fadeLen int         // frames of the current fade-in
	fadeAt  int         // frames of it done
	devBase uint64      // device frames before the current Start

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
	interrupts   atomic.Uint64
	lostIRQs     atomic.Uint64 // interrupts never seen (count jumps)
	lostFrames   atomic.Uint64 // frames already overwritten, replaced by silence
	overflow     atomic.Uint64 // frames dropped because the queue was full
	worstStall   atomic.Int64  // ns between an interrupt and its handling, worst
	worstStallAt atomic.Int64  // CLOCK_MONOTONIC ns of that interrupt
	target       atomic.Int64  // e.target, for Stats
	margin       atomic.Int64  // e.margin, for Stats
	raises       atomic.Uint64 // times a stall raised the margin
	latency      atomic.Int64  // measured capture latency, frames ×1000
	fill         atomic.Int64  // queue fill right after the last write
	lastIRQTime  atomic.Int64
	gone         atomic.Uint64 // times the device went away and came back

	// Published from the drift controller, see publish.
	lock        atomic.Uint32
	ratioPPM    atomic.Uint64 // float64 bits
	devicePPM   atomic.Uint64
	arrivals    atomic.Uint64
	longMemory  atomic.Uint64
	graphPPM    atomic.Uint64
	errorFrames atomic.Uint64
	resyncs     atomic.Uint64
	skipped     atomic.Uint64
	alignments  atomic.Uint64
	delay       atomic.Uint64 // float64 bits
	lockedAt    atomic.Int64  // CLOCK_MONOTONIC ns
	startedAt   atomic.Int64  // CLOCK_MONOTONIC ns of the device start
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
	Fill           int     `json:"fill"`             // frames in the queue right after the last interrupt
	Target         int     `json:"target"`           // latency target (drift control) or start-up fill (pass-through), frames
	Margin         int     `json:"margin"`           // frames of the target that absorb producer stalls
	MarginRaises   uint64  `json:"margin_raises"`    // times a stall that emptied the queue raised the margin
	Capacity       int     `json:"capacity"`         // queue capacity, frames
	Latency        float64 `json:"latency_frames"`   // measured capture latency, frames (0 until known)
	WorstStall     float64 `json:"worst_stall_s"`    // seconds between an interrupt and its handling, worst seen
	WorstStallAt   float64 `json:"worst_stall_at_s"` // seconds after the start that happened
	Running        bool    `json:"running"`          // the sink has started draining
	DeviceReturns  uint64  `json:"device_returns"`   // times the device vanished and was reopened

	// Drift control; zero in pass-through mode.
	Resample  bool    `json:"resample"`
	Lock      string  `json:"lock,omitempty"` // waiting, acquiring, locked
	RatioPPM  float64 `json:"ratio_ppm"`      // ratio in use vs nominal
	DevicePPM float64 `json:"device_ppm"`     // device clock vs CLOCK_MONOTONIC
	GraphPPM  float64 `json:"graph_ppm"`      // graph clock vs CLOCK_MONOTONIC
	Arrivals  float64 `json:"arrival_share"`  // share of device stamps that are arrivals (late-only)
	// LongMemory is the share of the long-memory device filter in the
	// device rate: 1 while the stamps show a steady clock, 0 while it
	// drifts (or its stamps are bracketed).
	LongMemory float64 `json:"device_long_memory"`
	Error      float64 `json:"error_frames"` // latency minus target
	Resyncs    uint64  `json:"resyncs"`      // corrections past the bound
	// SkippedCycles are graph cycles that did not read from the queue
	// (the graph's own xruns: its driver ran late and skipped us); the
	// queue moved by their frames and was put back with a resync.
	SkippedCycles uint64  `json:"skipped_cycles"`
	Alignments    uint64  `json:"alignments"`      // corrections while acquiring
	Delay         float64 `json:"resampler_delay"` // input frames
	LockedAt      float64 `json:"locked_after_s"`  // seconds from start to lock (0: not yet)
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
	if !cfg.Resample && cfg.Sink.Rate() != f.Rate {
		return nil, fmt.Errorf("the device runs at %d Hz and the graph at %d Hz: without resampling they must match (drop --no-resample, or run the graph at %d Hz)", f.Rate, cfg.Sink.Rate(), f.Rate)
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
	graph := cfg.Sink.Period()
	e := &Engine{
		dev:     cfg.Device,
		sink:    cfg.Sink,
		wait:    cfg.WaitForDevice,
		prio:    cfg.Priority,
		log:     log,
		format:  f,
		target:  f.Period + graph + margin,
		scratch: planar(f.Channels, f.Period),
		margin:  margin,
		// The most stalls may raise it to, and never less than asked for.
		maxMargin:   max(margin, int(math.Ceil(MaxMargin*float64(cfg.Sink.Rate())))),
		fixedMargin: cfg.FixedMargin || !cfg.Resample,
	}
	startFill := e.target
	maxOut := f.Period
	if cfg.Resample {
		if err := e.setupDrift(cfg.Quality, graph, margin); err != nil {
			return nil, err
		}
		maxOut = len(e.out[0])
		// The controller aligns the latency once the sink runs; starting
		// half a device period short of the mean fill keeps that first
		// step small.
		startFill = graph + margin + f.Period/2
	}
	// Room for the target (with the margin raised as far as it goes), a
	// whole SG ring arriving at once after a stall, and the graph not
	// draining for as long again.
	r, err := ring.New(f.Channels, 2*(e.target+e.maxMargin-margin+maxOut*f.Buffers))
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	e.ring = r
	r.SetStartFill(startFill)
	e.stats.target.Store(int64(e.target))
	e.stats.margin.Store(int64(margin))
	return e, nil
}

// setupDrift makes the resampler and the controller. The latency target
// is device period + graph period + resampler delay + margin, in graph
// frames: the least that keeps a graph period in the queue at every phase
// of the interrupts against the cycles, plus the margin.
func (e *Engine) setupDrift(q resample.Quality, graph, margin int) error {
	f := e.format
	rs, err := resample.NewRates(f.Channels, f.Rate, e.sink.Rate(), q)
	if err != nil {
		return fmt.Errorf("resampler: %w", err)
	}
	nominal := float64(e.sink.Rate()) / float64(f.Rate)
	// The symmetric FIR delays by half its length in input frames
	// (Delay() reads 0 until the first block has primed it).
	delay := float64(rs.Taps()) / 2 * nominal
	target := float64(f.Period)*nominal + float64(graph) + delay + float64(margin)
	ctl, err := drift.New(drift.Config{
		DeviceRate: float64(f.Rate), GraphRate: float64(e.sink.Rate()),
		DevicePeriod: f.Period, GraphPeriod: graph, Target: target,
	})
	if err != nil {
		return fmt.Errorf("drift controller: %w", err)
	}
	e.rs, e.ctl = rs, ctl
	e.target = int(math.Ceil(target))
	n := rs.MaxOutput(f.Period)
	e.out = planar(f.Channels, n)
	e.view = make([][]float32, f.Channels)
	e.last = make([]float32, f.Channels)
	e.from = make([]float32, f.Channels)
	// A correction never needs more than the queue's capacity; it is
	// written in chunks of this size.
	e.fill = planar(f.Channels, 1024)
	return nil
}

func planar(channels, frames int) [][]float32 {
	p := make([][]float32, channels)
	for c := range p {
		p[c] = make([]float32, frames)
	}
	return p
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
	if e.ctl != nil {
		// The controller holds the latency at the target: that is the
		// figure the graph gets, from the start.
		e.sink.SetLatency(e.target)
	}
	if err := e.sink.Start(e.ring); err != nil {
		return fmt.Errorf("start sink: %w", err)
	}
	e.stats.startedAt.Store(nowNs())
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
	prio := e.prio
	if prio == 0 {
		prio = rt.DefaultPriority
	}
	// SCHED_FIFO for the waits only: the loop wakes at real-time
	// priority, and the backends stamp the wake-up there (rt.SleepUntil,
	// rt.Poll), but it runs Go code at SCHED_OTHER. A Go thread at
	// SCHED_FIFO held this loop for 60-150 ms under GC pressure, spinning
	// in the runtime for a stack scan by a normal-priority GC worker that
	// its own sched_yield never let run (internal/rt/sgb_rt.c).
	got := rt.Promote(rt.Config{Priority: max(prio, 0), WaitsOnly: true, Nice: rt.DefaultNice, LockMemory: true})
	e.log.Info("interrupt loop scheduling", "got", got.String())
	defer rt.Demote()
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
	var err error
	for {
		if err = r.Reopen(e.stopped.Load); err != nil {
			break
		}
		// A device that vanishes again between Reopen and Start is waited
		// for again, not fatal.
		if err = e.dev.Start(); err == nil || !errors.Is(err, device.ErrGone) {
			break
		}
		e.log.Warn("device went away again while starting; waiting", "err", err)
	}
	close(quit)
	wg.Wait()
	if e.stopped.Load() {
		return nil
	}
	if err != nil {
		return fmt.Errorf("device did not return: %w", err)
	}
	e.lastCount, e.prevTime, e.latencySet = 0, 0, false
	if e.ctl != nil {
		// A new device start is a new clock on the same graph: measure
		// it afresh (the graph's measurement is kept), with the device's
		// frame count continuing from what was consumed.
		e.ctl.Reset()
		e.devBase = uint64(e.rs.Consumed())
	}
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
			e.emit(nil)
		}
		delta = n - 1
	}
	for j := c.Count - delta + 1; j <= c.Count; j++ {
		device.Convert(e.scratch, e.dev.Buffer(int((j-1)%n)), f.Sample, f.Period)
		e.emit(e.scratch)
	}
	stall := now - c.Time
	if stall > e.stats.worstStall.Load() {
		e.stats.worstStall.Store(stall)
		e.stats.worstStallAt.Store(c.Time)
	}
	if e.ctl != nil {
		if u := e.ring.Stats().UnderrunEvents; u != e.underruns {
			e.underruns = u
			e.raiseMargin(stall)
		}
		e.control(c)
	} else {
		e.measureLatency(c.Time)
	}
	e.stats.fill.Store(int64(e.ring.Fill()))
	e.stats.lastIRQTime.Store(c.Time)
}

// raiseMargin is called when the sink found the queue short since the
// previous interrupt, which was handled stall ns after it completed. If
// the stall outlasted the margin, it is what emptied the queue: the
// margin grows to cover it, and the resync the underrun calls for moves
// the queue to the new target in the same step.
func (e *Engine) raiseMargin(stall int64) {
	rate := float64(e.sink.Rate())
	frames := float64(stall) / 1e9 * rate
	if e.fixedMargin || frames <= float64(e.margin) || e.margin >= e.maxMargin {
		return
	}
	// Whole blocks of 16 frames: the figure is read by people.
	m := min(e.maxMargin, (int(math.Ceil(frames*marginHeadroom))+15)/16*16)
	if err := e.ctl.SetTarget(e.ctl.Config().Target + float64(m-e.margin)); err != nil {
		return // cannot happen: the target only grows
	}
	e.target += m - e.margin
	e.margin = m
	e.stats.target.Store(int64(e.target))
	e.stats.margin.Store(int64(m))
	e.stats.raises.Add(1)
	// Telling the graph takes the sink's lock and a round trip to the
	// server, and logging allocates: neither on this thread. The last of
	// these to run reads the newest target.
	target := e.target
	go func() {
		e.log.Warn("a stall longer than the margin emptied the queue; margin raised",
			"stall_ms", math.Round(float64(stall)/1e4)/100, "margin_frames", m,
			"latency_frames", target, "latency_ms", math.Round(float64(target)/rate*1e5)/100)
		e.latencyMu.Lock()
		defer e.latencyMu.Unlock()
		e.sink.SetLatency(int(e.stats.target.Load()))
	}()
}

// emit sends one device period on: straight into the queue in
// pass-through mode, through the resampler with drift control. nil is a
// period lost with its buffer: silence, so the timeline stays right.
func (e *Engine) emit(p [][]float32) {
	if p == nil {
		for _, s := range e.scratch {
			clear(s)
		}
		p = e.scratch
	}
	if e.rs == nil {
		e.write(p, e.format.Period)
		return
	}
	n := e.rs.OutputFor(e.format.Period)
	for c := range e.view {
		e.view[c] = e.out[c][:n]
	}
	_, prod := e.rs.Process(p, e.view)
	skip := min(e.drop, prod)
	e.drop -= skip
	for c := range e.view {
		e.view[c] = e.out[c][skip:prod]
	}
	if m := prod - skip; m > 0 {
		e.fadeIn(e.view, m)
		e.write(e.view, m)
	}
}

// write puts frames into the queue, counting what a full queue refuses.
func (e *Engine) write(p [][]float32, frames int) {
	if n := e.ring.Write(p, frames); n < frames {
		e.stats.overflow.Add(uint64(frames - n))
	}
	if e.last != nil {
		for c := range e.last {
			e.last[c] = p[c][frames-1]
		}
	}
}

// fadeLen is the length of the fade after a correction: 2.7 ms at 48 kHz,
// short enough to hide inside the step, long enough not to click.
const fadeLen = 128

// fadeIn blends the start of p from e.from while a fade is running.
func (e *Engine) fadeIn(p [][]float32, frames int) {
	for i := 0; i < frames && e.fadeAt < e.fadeLen; i++ {
		e.fadeAt++
		g := float32(e.fadeAt) / float32(e.fadeLen)
		for c := range p {
			p[c][i] = e.from[c] + (p[c][i]-e.from[c])*g
		}
	}
}

// control runs the drift controller once per interrupt and applies what
// it says: the ratio for the next periods and, at alignments and
// resyncs, a step of the queue with fades on both sides.
func (e *Engine) control(c device.Completion) {
	var sk drift.Sink
	if tm, ok := e.ring.Timing(); ok {
		sk = drift.Sink(tm)
	}
	out := e.ctl.Update(drift.Input{
		Time:         c.Time,
		Late:         c.Late,
		DeviceFrames: e.devBase + c.Count*uint64(e.format.Period),
		Sink:         sk,
		Consumed:     uint64(e.rs.Consumed()),
		Written:      e.ring.Written(),
		Delay:        e.rs.Delay(),
	})
	e.rs.SetRatio(out.Ratio) // the controller clamps to ±5 %, well inside the resampler's range
	switch {
	case out.Correction > 0:
		e.insert(out.Correction)
	case out.Correction < 0:
		// Withhold output frames; the next frames written fade in from
		// the last one that went out.
		e.drop += -out.Correction
		copy(e.from, e.last)
		e.fadeLen, e.fadeAt = fadeLen, 0
	}
	e.publish()
}

// insert writes k frames that ramp from the last sample written down to
// zero, then fades the following output in from zero: the queue grows by
// k without a step in the waveform.
func (e *Engine) insert(k int) {
	for done := 0; done < k; {
		n := min(k-done, len(e.fill[0]))
		for c, buf := range e.fill {
			for i := range n {
				buf[i] = e.last[c] * float32(k-done-i-1) / float32(k)
			}
		}
		e.write(e.fill, n)
		done += n
	}
	clear(e.from)
	e.fadeLen, e.fadeAt = fadeLen, 0
}

// publish copies the controller's state where Stats can read it: the
// controller belongs to the loop.
func (e *Engine) publish() {
	st := e.ctl.Stats()
	e.stats.lock.Store(uint32(st.State))
	e.stats.ratioPPM.Store(math.Float64bits(st.PPM))
	e.stats.devicePPM.Store(math.Float64bits(st.DevicePPM))
	e.stats.arrivals.Store(math.Float64bits(st.Arrivals))
	e.stats.longMemory.Store(math.Float64bits(st.LongMemory))
	e.stats.graphPPM.Store(math.Float64bits(st.GraphPPM))
	e.stats.errorFrames.Store(math.Float64bits(st.Error))
	e.stats.latency.Store(int64(math.Round(st.Latency * 1000)))
	e.stats.resyncs.Store(st.Resyncs)
	e.stats.skipped.Store(st.SkippedCycles)
	e.stats.alignments.Store(st.Alignments)
	e.stats.delay.Store(math.Float64bits(e.rs.Delay()))
	if st.LockedAt != 0 && e.stats.lockedAt.Load() == 0 {
		e.stats.lockedAt.Store(st.LockedAt)
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
	st := Stats{
		Interrupts:     e.stats.interrupts.Load(),
		LostIRQs:       e.stats.lostIRQs.Load(),
		LostFrames:     e.stats.lostFrames.Load(),
		Overflows:      e.stats.overflow.Load(),
		UnderrunEvents: rs.UnderrunEvents,
		UnderrunFrames: rs.UnderrunFrames,
		Xruns:          e.sink.Xruns(),
		Fill:           int(e.stats.fill.Load()),
		Target:         int(e.stats.target.Load()),
		Margin:         int(e.stats.margin.Load()),
		MarginRaises:   e.stats.raises.Load(),
		Capacity:       e.ring.Capacity(),
		Latency:        float64(e.stats.latency.Load()) / 1000,
		WorstStall:     float64(e.stats.worstStall.Load()) / 1e9,
		WorstStallAt:   float64(e.stats.worstStallAt.Load()-e.stats.startedAt.Load()) / 1e9,
		Running:        e.ring.Running(),
		DeviceReturns:  e.stats.gone.Load(),
	}
	if e.ctl == nil {
		return st
	}
	st.Resample = true
	st.Lock = drift.State(e.stats.lock.Load()).String()
	st.RatioPPM = math.Float64frombits(e.stats.ratioPPM.Load())
	st.DevicePPM = math.Float64frombits(e.stats.devicePPM.Load())
	st.Arrivals = math.Float64frombits(e.stats.arrivals.Load())
	st.LongMemory = math.Float64frombits(e.stats.longMemory.Load())
	st.GraphPPM = math.Float64frombits(e.stats.graphPPM.Load())
	st.Error = math.Float64frombits(e.stats.errorFrames.Load())
	st.Resyncs = e.stats.resyncs.Load()
	st.SkippedCycles = e.stats.skipped.Load()
	st.Alignments = e.stats.alignments.Load()
	st.Delay = math.Float64frombits(e.stats.delay.Load())
	if at := e.stats.lockedAt.Load(); at != 0 {
		st.LockedAt = float64(at-e.stats.startedAt.Load()) / 1e9
	}
	return st
}

// nowNs reads CLOCK_MONOTONIC without a system call: the loop must not
// give the scheduler a reason to take its P (internal/monotime).
func nowNs() int64 { return monotime.Now() }
