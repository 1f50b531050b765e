package bridge

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/bridge/ring"
	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/device/sim"
)

// fakeSink is a graph on a virtual clock: the test calls cycle to run one
// process cycle, which publishes timing and drains the ring as the C
// callback would.
type fakeSink struct {
	rate, period int
	r            *ring.Ring
	dst          [][]float32
	latency      atomic.Int64
	done         chan struct{}
	err          error
	frames       uint64
	out          [][]float32 // everything read, when record is set
	record       bool
}

func newFakeSink(rate, period int) *fakeSink {
	return &fakeSink{rate: rate, period: period, done: make(chan struct{})}
}

func (s *fakeSink) Rate() int   { return s.rate }
func (s *fakeSink) Period() int { return s.period }
func (s *fakeSink) Start(r *ring.Ring) error {
	s.r = r
	s.dst = make([][]float32, r.Channels())
	s.out = make([][]float32, r.Channels())
	for c := range s.dst {
		s.dst[c] = make([]float32, s.period)
	}
	return nil
}
func (s *fakeSink) SetLatency(n int)      { s.latency.Store(int64(n)) }
func (s *fakeSink) Xruns() uint64         { return 0 }
func (s *fakeSink) Done() <-chan struct{} { return s.done }
func (s *fakeSink) Err() error            { return s.err }

func (s *fakeSink) cycle(t int64) {
	s.r.PublishTiming(ring.Timing{CycleStart: t, NextStart: t + s.periodNs(), Period: float64(s.periodNs()),
		Frames: s.frames, NFrames: uint32(s.period), Rate: uint32(s.rate)})
	s.r.Read(s.dst, s.period)
	s.frames += uint64(s.period)
	if s.record {
		for c := range s.dst {
			s.out[c] = append(s.out[c], s.dst[c]...)
		}
	}
}

func (s *fakeSink) periodNs() int64 { return int64(s.period) * 1e9 / int64(s.rate) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type virtualRig struct {
	e     *Engine
	g     *sim.Grabber
	clk   *sim.VirtualClock
	sink  *fakeSink
	nextC int64 // next sink cycle time
}

func newVirtualRig(t *testing.T, scfg sim.Config, graphPeriod, margin int) *virtualRig {
	t.Helper()
	sink := newFakeSink(scfg.Format.Rate, graphPeriod)
	e, g, clk := startVirtual(t, scfg, sink, Config{Margin: margin})
	// The graph's cycles fall at an arbitrary phase to the device's.
	return &virtualRig{e: e, g: g, clk: clk, sink: sink, nextC: clk.T + sink.periodNs()/3}
}

// startVirtual builds an engine from cfg over a simulated device on a
// virtual clock and sink, and starts both the way Run would, without its
// goroutines: the test drives the interrupts itself.
func startVirtual(t *testing.T, scfg sim.Config, sink *fakeSink, cfg Config) (*Engine, *sim.Grabber, *sim.VirtualClock) {
	t.Helper()
	clk := &sim.VirtualClock{T: 1e9}
	scfg.Clock = clk
	g, err := sim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device, cfg.Sink, cfg.Log = g, sink, quiet
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); g.Close() })
	if err := sink.Start(e.Ring()); err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	e.stats.startedAt.Store(clk.T)
	return e, g, clk
}

// step waits for one interrupt, runs the graph cycles that fell before
// it, then lets the engine handle it: the order things happen in on a
// real machine.
func (v *virtualRig) step(t testing.TB) device.Completion {
	c, err := v.g.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for v.nextC <= c.Time {
		v.sink.cycle(v.nextC)
		v.nextC += v.sink.periodNs()
	}
	v.e.handle(c, c.Time)
	return c
}

func counterFormat(ch int) device.Format {
	return device.Format{Rate: 48000, Channels: ch, Sample: device.S32LE, Period: 256, Buffers: 8}
}

func TestHandleAllocatesNothing(t *testing.T) {
	v := newVirtualRig(t, sim.Config{Format: counterFormat(8), Signal: sim.Counter, LoseIRQ: 0.01}, 256, 0)
	for range 100 {
		v.step(t)
	}
	if n := testing.AllocsPerRun(2000, func() { v.step(t) }); n != 0 {
		t.Fatalf("the interrupt loop allocates %v times per interrupt", n)
	}
	if s := v.e.Stats(); s.UnderrunEvents != 0 || s.Overflows != 0 {
		t.Fatalf("steady state had underruns or overflows: %+v", s)
	}
}

// checkCounter verifies that out carries the counter signal without a gap
// from its first non-silent frame on.
func checkCounter(t *testing.T, out [][]float32) (checked int) {
	t.Helper()
	start := -1
	for i, v := range out[0] {
		if v != 0 {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatal("sink never saw the signal")
	}
	n0 := uint64(out[0][start] * (1 << 23))
	for c := range out {
		for i := start; i < len(out[c]); i++ {
			want := float32(sim.CounterValue(n0+uint64(i-start), c)) / (1 << 23)
			if out[c][i] != want {
				t.Fatalf("ch %d frame %d: got %v want %v", c, i, out[c][i], want)
			}
		}
	}
	return len(out[0]) - start
}

func TestLostInterruptsKeepTheStreamExact(t *testing.T) {
	v := newVirtualRig(t, sim.Config{Format: counterFormat(2), Signal: sim.Counter, LoseIRQ: 0.2, Seed: 11}, 256, 4*256)
	v.sink.record = true
	var prev uint64
	jumps := uint64(0)
	for range 3000 {
		c := v.step(t)
		jumps += c.Count - prev - 1
		prev = c.Count
	}
	s := v.e.Stats()
	if s.LostIRQs != jumps || jumps == 0 {
		t.Fatalf("engine counted %d lost interrupts, the device skipped %d", s.LostIRQs, jumps)
	}
	if s.LostFrames != 0 {
		t.Fatalf("buffers still in the ring were dropped: %d frames", s.LostFrames)
	}
	// Missed interrupts lose no data while the ring still holds it, but
	// the data comes late: a margin of four periods rides out the runs of
	// up to three missed interrupts this seed has.
	if s.UnderrunEvents != 0 {
		t.Errorf("%d underruns", s.UnderrunEvents)
	}
	if n := checkCounter(t, v.sink.out); n < 2900*256 {
		t.Fatalf("only %d frames checked", n)
	}
}

func TestStallBeyondRingBecomesCountedSilence(t *testing.T) {
	v := newVirtualRig(t, sim.Config{Format: counterFormat(1), Signal: sim.Counter,
		Stall: 100 * time.Millisecond, StallEvery: time.Second}, 256, 0)
	var last device.Completion
	for range 400 {
		last = v.step(t)
	}
	s := v.e.Stats()
	if s.LostFrames == 0 || s.LostFrames%256 != 0 {
		t.Fatalf("lost frames %d: want whole periods lost to the stall", s.LostFrames)
	}
	// The timeline is kept: one period per interrupt went into the queue,
	// data or silence, whatever was lost.
	if w := v.e.Ring().Written(); w != last.Count*256 {
		t.Fatalf("queue got %d frames for %d interrupts of 256", w, last.Count)
	}
	if s.WorstStall != 0 {
		t.Fatalf("virtual handling cannot be late, got %v", s.WorstStall)
	}
}

func TestLatencyMeasuredAndReported(t *testing.T) {
	v := newVirtualRig(t, sim.Config{Format: counterFormat(2), Signal: sim.Counter}, 256, 0)
	for range 200 {
		v.step(t)
	}
	s := v.e.Stats()
	if s.Latency == 0 {
		t.Fatal("latency never measured")
	}
	// The sink starts once the queue holds the target, and frames wait up
	// to one device period in the SG buffer before that.
	if s.Latency < float64(s.Target) || s.Latency > float64(s.Target+2*256) {
		t.Errorf("latency %.1f frames, target fill %d", s.Latency, s.Target)
	}
	if got := v.sink.latency.Load(); got != int64(s.Latency+0.5) {
		t.Errorf("graph was told %d frames, measured %.2f", got, s.Latency)
	}
}

func TestRateMismatch(t *testing.T) {
	g, err := sim.New(sim.Config{Format: counterFormat(2), Signal: sim.Silence, Clock: &sim.VirtualClock{}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	_, err = New(Config{Device: g, Sink: newFakeSink(44100, 256), Log: quiet})
	if err == nil || !strings.Contains(err.Error(), "48000 Hz") || !strings.Contains(err.Error(), "44100 Hz") {
		t.Fatalf("rate mismatch error = %v", err)
	}
}

// goSink drains the ring from a goroutine on the real clock, standing in
// for a graph in Run's lifecycle tests.
type goSink struct {
	*fakeSink
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
}

func (s *goSink) Start(r *ring.Ring) error {
	s.fakeSink.Start(r)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(time.Duration(s.periodNs()))
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case now := <-tick.C:
				s.mu.Lock()
				s.cycle(now.UnixNano())
				s.mu.Unlock()
			}
		}
	}()
	return nil
}

func TestRunStopsOnContextAndOnGraphLoss(t *testing.T) {
	for _, graphLost := range []bool{false, true} {
		g, err := sim.New(sim.Config{Format: counterFormat(2), Signal: sim.Sine})
		if err != nil {
			t.Fatal(err)
		}
		sink := &goSink{fakeSink: newFakeSink(48000, 256), stop: make(chan struct{})}
		e, err := New(Config{Device: g, Sink: sink, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(300 * time.Millisecond)
			if graphLost {
				sink.err = errors.New("server shut down")
				close(sink.done)
			} else {
				cancel()
			}
		}()
		err = e.Run(ctx)
		close(sink.stop)
		sink.wg.Wait()
		cancel()
		switch {
		case graphLost && (err == nil || !strings.Contains(err.Error(), "server shut down")):
			t.Errorf("graph loss: Run = %v", err)
		case !graphLost && err != nil:
			t.Errorf("cancel: Run = %v", err)
		}
		if e.Stats().Interrupts < 20 {
			t.Errorf("only %d interrupts in 300 ms", e.Stats().Interrupts)
		}
		e.Close()
		g.Close()
	}
}
