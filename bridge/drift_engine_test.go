package bridge

import (
	"compress/gzip"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/bridge/ring"
	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/device/sim"
	"github.com/sgbridge/sgbridge/internal/analysis"
	"github.com/sgbridge/sgbridge/internal/jacktrace"
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
	// replay, when set, is a server's published timing: the sink reads at
	// the exact cycle starts, but publishes them off by what the trace's
	// cycle times were off their exact line at the same graph position.
	replay *timingTrace
	// wakes, when set, are a server's wake-ups: the sink publishes exact
	// cycle starts, each cycle's raw wake-up late by the trace's latency,
	// and a frame count from the trace's first cycle (its server's age).
	wakes *jacktrace.Wakeups
	// late holds the handling of the next interrupt back by that many ns
	// (a stall of the loop): the graph runs on meanwhile.
	late int64
}

func newDriftRig(t *testing.T, scfg sim.Config, graphPPM float64) *driftRig {
	t.Helper()
	return newDriftRigWith(t, scfg, graphPPM, Config{})
}

// newDriftRigWith is newDriftRig with the engine configured by cfg
// (Resample is set).
func newDriftRigWith(t *testing.T, scfg sim.Config, graphPPM float64, cfg Config) *driftRig {
	t.Helper()
	sink := newFakeSink(48000, 256)
	cfg.Resample = true
	e, g, clk := startVirtual(t, scfg, sink, cfg)
	period := 256e9 / 48000 / (1 + graphPPM*1e-6)
	return &driftRig{e: e, g: g, sink: sink, cycle: float64(clk.T) + period/3, period: period}
}

func (r *driftRig) step(t testing.TB) device.Completion {
	c, err := r.g.Wait()
	if err != nil {
		t.Fatal(err)
	}
	now := c.Time + r.late
	r.late = 0
	for int64(r.cycle) <= now {
		tm := timingAt(int64(r.cycle), r.period, r.sink.frames)
		if r.replay != nil {
			tm.Frames += r.replay.frames0
			tm.CycleStart += r.replay.offset(tm.Frames)
			tm.NextStart = tm.CycleStart + int64(r.period)
		}
		if w := r.wakes; w != nil {
			k := min(int(r.sink.frames/uint64(r.sink.period)), len(w.Late)-1)
			tm.Wake = tm.CycleStart + int64(w.Late[k]*1e9)
			tm.Frames += w.Frames
		}
		r.sink.r.PublishTiming(tm)
		r.sink.r.Read(r.sink.dst, r.sink.period)
		r.sink.frames += uint64(r.sink.period)
		if r.sink.record {
			for ch := range r.sink.dst {
				r.sink.out[ch] = append(r.sink.out[ch], r.sink.dst[ch]...)
			}
		}
		r.cycle += r.period
	}
	r.e.handle(c, now)
	return c
}

// run steps for d of device time.
func (r *driftRig) run(t testing.TB, d time.Duration) {
	n := int(d.Seconds() * 48000 / 256)
	for range n {
		r.step(t)
	}
}

// timingTrace is a JACK server's published cycle times (jackd -d dummy,
// 48 kHz, 256 frames, recorded by the JACK sink): the frame counter is
// exact, the times wander by tens of µs around the exact line.
type timingTrace struct {
	frames0 uint64    // graph position of the first row
	frames  []float64 // graph position of each row, from frames0
	off     []float64 // ns the published time was off the exact line
}

func loadTimingTrace(t *testing.T, path string) *timingTrace {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	rows, err := csv.NewReader(z).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tr := &timingTrace{}
	var t0 int64
	for i, row := range rows[1:] { // header: cycle,cycle_ns,next_ns,period_ns,frames
		ns, err1 := strconv.ParseInt(row[1], 10, 64)
		fr, err2 := strconv.ParseUint(row[4], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s row %d: %v %v", path, i+2, err1, err2)
		}
		if i == 0 {
			tr.frames0, t0 = fr, ns
		}
		d := float64(fr - tr.frames0)
		tr.frames = append(tr.frames, d)
		tr.off = append(tr.off, float64(ns-t0)-d/48000*1e9)
	}
	return tr
}

// offset is the trace's error at graph position g (absolute), ns,
// interpolated between rows and held past the end.
func (tr *timingTrace) offset(g uint64) int64 {
	d := float64(g - tr.frames0)
	i := sort.SearchFloat64s(tr.frames, d)
	switch {
	case i >= len(tr.frames):
		return int64(tr.off[len(tr.off)-1])
	case i == 0 || tr.frames[i] == d:
		return int64(tr.off[i])
	}
	a := (d - tr.frames[i-1]) / (tr.frames[i] - tr.frames[i-1])
	return int64(tr.off[i-1] + a*(tr.off[i]-tr.off[i-1]))
}

// bars are what a 30 s recording after a 10 s settle must meet.
type bars struct {
	freqPPM float64 // |recorded frequency - truth|
	thdn    float64 // worst 100 ms window THD+N, dB
	latency float64 // |latency - target| at the end, frames
}

// issueBars are the issue's: 0.1 ppm, -120 dB in every window, half a
// frame.
var issueBars = bars{freqPPM: 0.1, thdn: -120, latency: 0.5}

// replayBars hold the replay of a real JACK dummy server's timing: the
// issue's THD+N, but the frequency and latency only to what the
// controller achieves today (+0.47 ppm, 0.37 frames), so they cannot get
// worse unseen. The issue's 0.1 ppm is not met there (see
// bridge/drift/doc.go, "The graph clock"): the server started a few
// seconds before, and at 10 s its published times put its rate only
// within ~5 ppm (a late wake-up at 8.2 s steps them by 55 µs); what that
// error did to the phase is in the recording.
var replayBars = bars{freqPPM: 0.6, thdn: -120, latency: 1}

func TestDriftControlledOutputIsCleanAndAtTrueFrequency(t *testing.T) {
	if testing.Short() {
		t.Skip("40 s of virtual audio through the resampler")
	}
	jack := loadTimingTrace(t, "drift/testdata/jack-dummy-timing.csv.gz")
	for _, tc := range []struct {
		ppm    float64
		replay *timingTrace
		want   bars
	}{{-200, nil, issueBars}, {150, nil, issueBars}, {200, jack, replayBars}, {-200, jack, replayBars}} {
		name := ppmName(tc.ppm)
		if tc.replay != nil {
			name += "/jack-dummy-timing"
		}
		ppm := tc.ppm
		t.Run(name, func(t *testing.T) {
			f := device.Format{Rate: 48000, Channels: 1, Sample: device.FloatLE, Period: 256, Buffers: 8}
			r := newDriftRig(t, sim.Config{Format: f, Signal: sim.Sine, PPM: ppm}, 0)
			r.replay = tc.replay
			r.run(t, 10*time.Second) // settle
			r.sink.record = true
			r.run(t, 30*time.Second)
			checkRecording(t, r, ppm, tc.want)
		})
	}
}

// TestDriftReplayYoungJACK: the whole engine, real resampler included,
// against six real young jackd servers' wake-ups (bridge/drift/testdata),
// the simulated device +200 ppm; what a recording from 10 to 40 s holds.
// The controller's figures are bridge/drift's TestReplayYoungJACK; here
// the audio: every 100 ms window at -120 dB or better while the graph
// rate in the feed-forward still glides after the lock at 9.5 s (worst
// -125.0 to -126.3 dB), the frequency held where the controller puts it
// (-0.40 to +0.31 ppm, held to 0.5; the issue's 0.1 is not met on such
// a server), the latency to 1.25 frames (0.89 at worst). Locking on the
// line's statistics, or at an 8.5 s span, recorded traces 2 and 6 at
// +1.44 and +1.17 ppm.
func TestDriftReplayYoungJACK(t *testing.T) {
	if testing.Short() {
		t.Skip("six times 40 s of virtual audio through the resampler")
	}
	paths, err := filepath.Glob("drift/testdata/jackd-young-wakeups-*.txt.gz")
	if err != nil || len(paths) != 6 {
		t.Fatalf("want the six traces: %v %v", paths, err)
	}
	want := bars{freqPPM: 0.5, thdn: -120, latency: 1.25}
	const ppm = 200
	for _, p := range paths {
		w, err := jacktrace.Load(p, 48000, 256)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(p), func(t *testing.T) {
			f := device.Format{Rate: 48000, Channels: 1, Sample: device.FloatLE, Period: 256, Buffers: 8}
			r := newDriftRig(t, sim.Config{Format: f, Signal: sim.Sine, PPM: ppm}, 0)
			r.wakes = &w
			r.run(t, 10*time.Second)
			r.sink.record = true
			r.run(t, 30*time.Second)
			checkRecording(t, r, ppm, want)
		})
	}
}

// checkRecording judges what the rig's sink recorded against the
// device's true frequency at ppm: the engine's state, the sine's
// frequency, every 100 ms window's THD+N and the latency error.
func checkRecording(t *testing.T, r *driftRig, ppm float64, want bars) {
	t.Helper()
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
	e := (fit.Freq/truth - 1) * 1e6
	t.Logf("recorded sine at %.6f Hz, %+.3f ppm from the device's true %.6f Hz", fit.Freq, e, truth)
	if math.Abs(e) > want.freqPPM {
		t.Errorf("recorded sine %+.3f ppm from the truth (limit %.2f)", e, want.freqPPM)
	}
	ws, err := analysis.Windows(x, 48000, truth, 4800)
	if err != nil {
		t.Fatal(err)
	}
	sum := analysis.Summarize(ws)
	t.Logf("30 s after a 10 s settle: %s", sum)
	if sum.WorstTHDN > want.thdn {
		t.Errorf("worst 100 ms window THD+N %.1f dB > %.0f dB (at frame %d)", sum.WorstTHDN, want.thdn, sum.WorstStart)
	}
	if math.Abs(s.Error) > want.latency {
		t.Errorf("latency %.2f frames, %.2f off the target", s.Latency, s.Error)
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

// TestStallRaisesMargin: a stall of the interrupt loop longer than the
// margin empties the queue once; the margin is raised to cover it, the
// graph is told the new latency, the queue settles at the new target,
// and the same stall again is absorbed. With FixedMargin every such
// stall keeps emptying the queue.
func TestStallRaisesMargin(t *testing.T) {
	// ns: longer than the default margin (64 frames, 1.3 ms) and the graph
	// period (5.3 ms) it also has at the best phase of the cycles.
	const stall = 7_000_000
	// 7 ms at 48 kHz, with the headroom, in blocks of 16 frames.
	want := (int(math.Ceil(stall*48000/1e9*marginHeadroom)) + 15) / 16 * 16
	for _, fixed := range []bool{false, true} {
		t.Run("fixed="+strconv.FormatBool(fixed), func(t *testing.T) {
			r := newDriftRigWith(t, sim.Config{Format: device.Format{Rate: 48000, Channels: 2, Sample: device.FloatLE, Period: 256, Buffers: 8}, Signal: sim.Sine, PPM: 200}, 0,
				Config{FixedMargin: fixed})
			r.run(t, 10*time.Second)
			before := r.e.Stats()
			if before.Lock != "locked" || before.UnderrunEvents != 0 || before.Margin != DefaultMargin {
				t.Fatalf("before the stalls: %+v", before)
			}
			// A stall every second for 10 s.
			for range 10 {
				r.late = stall
				r.run(t, time.Second)
			}
			r.run(t, 10*time.Second)
			s := r.e.Stats()
			t.Logf("margin %d -> %d frames, target %d -> %d, underruns %d, resyncs %d, error %.3f frames",
				before.Margin, s.Margin, before.Target, s.Target, s.UnderrunEvents, s.Resyncs, s.Error)
			if fixed {
				if s.Margin != DefaultMargin || s.MarginRaises != 0 || s.Target != before.Target {
					t.Errorf("fixed margin moved: %+v", s)
				}
				if s.UnderrunEvents < 5 {
					t.Errorf("%d underruns from ten %d µs stalls at a fixed %d-frame margin: the test stalls too little",
						s.UnderrunEvents, stall/1000, DefaultMargin)
				}
				// The graph ran every cycle: the sink found the ring
				// short, it was not skipped.
				if s.SkippedCycles != 0 {
					t.Errorf("%d underruns counted as %d skipped graph cycles", s.UnderrunEvents, s.SkippedCycles)
				}
				return
			}
			if s.MarginRaises != 1 || s.Margin != want || s.Target != before.Target+want-DefaultMargin {
				t.Errorf("margin %d after %d raises, target %d: want one raise to %d frames", s.Margin, s.MarginRaises, s.Target, want)
			}
			if s.UnderrunEvents != 1 {
				t.Errorf("%d underruns: want only the first stall's", s.UnderrunEvents)
			}
			if math.Abs(s.Error) > 0.5 {
				t.Errorf("latency %.3f frames off the raised target", s.Error)
			}
			deadline := time.Now().Add(5 * time.Second)
			for r.sink.latency.Load() != int64(s.Target) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := r.sink.latency.Load(); got != int64(s.Target) {
				t.Errorf("graph told %d frames of latency, target %d", got, s.Target)
			}
		})
	}
}
