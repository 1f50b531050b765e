package bridge

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/bridge/ring"
	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/device/sim"
	"github.com/sgbridge/sgbridge/internal/analysis"
)

// driftRig runs the whole engine with drift control on virtual time: the
// simulated device on its clock, the fake graph on its own, both measured
// against one virtual CLOCK_MONOTONIC.
type driftRig struct {
	e      *Engine
	g      *sim.Grabber
	sink   *fakeSink
	cycle  float64 // next graph cycle start, ns (float: no rounding bias)
	period float64 // graph period, ns, on the graph's clock
}

func newDriftRig(t *testing.T, scfg sim.Config, graphPPM float64) *driftRig {
	t.Helper()
	clk := &sim.VirtualClock{T: 1e9}
	scfg.Clock = clk
	g, err := sim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := newFakeSink(48000, 256)
	e, err := New(Config{Device: g, Sink: sink, Resample: true, Log: quiet})
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
	period := 256e9 / 48000 / (1 + graphPPM*1e-6)
	return &driftRig{e: e, g: g, sink: sink, cycle: float64(clk.T) + period/3, period: period}
}

func (r *driftRig) step(t testing.TB) device.Completion {
	c, err := r.g.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for int64(r.cycle) <= c.Time {
		r.sink.r.PublishTiming(timingAt(int64(r.cycle), r.period, r.sink.frames))
		r.sink.r.Read(r.sink.dst, r.sink.period)
		r.sink.frames += uint64(r.sink.period)
		if r.sink.record {
			for ch := range r.sink.dst {
				r.sink.out[ch] = append(r.sink.out[ch], r.sink.dst[ch]...)
			}
		}
		r.cycle += r.period
	}
	r.e.handle(c, c.Time)
	return c
}

// run steps for d of device time.
func (r *driftRig) run(t testing.TB, d time.Duration) {
	n := int(d.Seconds() * 48000 / 256)
	for range n {
		r.step(t)
	}
}

func TestDriftControlledOutputIsCleanAndAtTrueFrequency(t *testing.T) {
	if testing.Short() {
		t.Skip("40 s of virtual audio through the resampler")
	}
	for _, ppm := range []float64{-200, 150} {
		t.Run(ppmName(ppm), func(t *testing.T) {
			f := device.Format{Rate: 48000, Channels: 1, Sample: device.FloatLE, Period: 256, Buffers: 8}
			r := newDriftRig(t, sim.Config{Format: f, Signal: sim.Sine, PPM: ppm}, 0)
			r.run(t, 10*time.Second) // settle
			r.sink.record = true
			r.run(t, 30*time.Second)
			s := r.e.Stats()
			t.Logf("stats: lock %s ratio %+.4f ppm error %.3f frames latency %.2f target %d resyncs %d alignments %d locked after %.2f s",
				s.Lock, s.RatioPPM, s.Error, s.Latency, s.Target, s.Resyncs, s.Alignments, s.LockedAt)
			if s.UnderrunEvents != 0 || s.Overflows != 0 {
				t.Fatalf("%d underruns, %d overflow frames", s.UnderrunEvents, s.Overflows)
			}
			if s.Lock != "locked" {
				t.Errorf("not locked after 40 s: %s", s.Lock)
			}
			x := make([]float64, len(r.sink.out[0]))
			for i, v := range r.sink.out[0] {
				x[i] = float64(v)
			}
			truth := sim.DefaultFreq * (1 + ppm*1e-6)
			fit, err := analysis.FitSine(x, 48000, truth)
			if err != nil {
				t.Fatal(err)
			}
			if e := (fit.Freq/truth - 1) * 1e6; math.Abs(e) > 0.1 {
				t.Errorf("recorded sine at %.6f Hz, %+.3f ppm from the device's true %.6f Hz", fit.Freq, e, truth)
			}
			ws, err := analysis.Windows(x, 48000, truth, 4800)
			if err != nil {
				t.Fatal(err)
			}
			sum := analysis.Summarize(ws)
			t.Logf("30 s after a 10 s settle: %s", sum)
			if sum.WorstTHDN > -120 {
				t.Errorf("worst 100 ms window THD+N %.1f dB > -120 dB (at frame %d)", sum.WorstTHDN, sum.WorstStart)
			}
			if math.Abs(s.Error) > 0.5 {
				t.Errorf("latency %.2f frames, %.2f off the target", s.Latency, s.Error)
			}
		})
	}
}

func ppmName(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) + "ppm" }

func TestDriftHandleAllocatesNothing(t *testing.T) {
	f := device.Format{Rate: 48000, Channels: 8, Sample: device.S24_3LE, Period: 256, Buffers: 8}
	r := newDriftRig(t, sim.Config{Format: f, Signal: sim.Sine, PPM: 120, LoseIRQ: 0.01}, -30)
	r.run(t, 3*time.Second)
	if n := testing.AllocsPerRun(2000, func() { r.step(t) }); n != 0 {
		t.Fatalf("the interrupt loop with drift control allocates %v times per interrupt", n)
	}
}

func timingAt(start int64, period float64, frames uint64) ring.Timing {
	return ring.Timing{CycleStart: start, NextStart: start + int64(period), Period: period,
		Frames: frames, NFrames: 256, Rate: 48000}
}
