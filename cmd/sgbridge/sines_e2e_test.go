package main

import (
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/device/sim"
	"github.com/sgbridge/sgbridge/internal/analysis"
)

// sineBars is what checkSines holds a recording to.
type sineBars struct {
	FreqPPM  float64 // |recorded - true frequency|, over the whole recording
	WorstDB  float64 // THD+N of the worst 100 ms window
	GlitchDB float64 // no sample-level fault above this, relative to the tone
}

// issueBars are the drift issue's targets: 0.1 ppm, -120 dB in every
// 100 ms window, no glitch, asserted by the acceptance tests while the
// controller misses them on real servers (see the drift issue).
var issueBars = sineBars{FreqPPM: 0.1, WorstDB: -120, GlitchDB: -110}

// holdBars are what drift control achieved on a real server, run after
// run (measured 0.09..14.5 ppm, worst windows -122..-126 dB, no glitch).
// TestDriftHoldsThroughJACK holds them; it is an acceptance test too,
// since on the CI machines the resampling runs met server xruns in every
// attempt while the bit-exact runs beside them did not (not understood;
// see the drift issue). The default run covers drift control through the
// engine-level tests in package bridge, which replay a real JACK
// server's timing.
var holdBars = sineBars{FreqPPM: 25, WorstDB: -110, GlitchDB: -100}

// jackDummyRate is the true rate of jackd's dummy driver on a 48 kHz
// graph, in CLOCK_MONOTONIC seconds (the simulator's and the test PCM's
// clock): it schedules cycle n at its start time + n periods, computed in
// floating point, so its frame counter keeps 48000 frames to the second
// of its own clock, which in jackd2 1.9.21 is CLOCK_MONOTONIC_RAW
// (bridge/jack's sgb_jack.c). That clock runs apart from CLOCK_MONOTONIC
// by the kernel's frequency correction: -0.41 ppm on this VM one day with
// NTP unsynchronised, and by whatever NTP sets elsewhere. So the rate is
// 48000 times the two clocks' rate ratio since this test binary started
// (both are read through the vDSO to the ns, so tens of seconds pin it
// to well under 0.01 ppm).
func jackDummyRate() float64 {
	raw, mono := readRawMono()
	return 48000 * float64(raw-clocksAtStart.raw) / float64(mono-clocksAtStart.mono)
}

// clocksAtStart is read once, when the test binary starts.
var clocksAtStart = func() (c struct{ raw, mono int64 }) {
	c.raw, c.mono = readRawMono()
	return c
}()

// readRawMono reads CLOCK_MONOTONIC between two reads of
// CLOCK_MONOTONIC_RAW and pairs it with their mean.
func readRawMono() (raw, mono int64) {
	var r1, m, r2 unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &r1)
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &m)
	unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &r2)
	return (r1.Nano() + r2.Nano()) / 2, m.Nano()
}

// pipewireDummyRate is the true rate of PipeWire's timer driver (the
// Dummy-Driver a headless server runs on): it steps its deadline by the
// quantum's duration in whole nanoseconds (duration·1e9/rate, integer
// division), so at 48 kHz and 256 frames a cycle lasts 5333333 ns and the
// graph runs 0.0625 ppm fast.
func pipewireDummyRate(rate, quantum int64) float64 {
	return float64(quantum) * 1e9 / float64(quantum*1_000_000_000/rate)
}

// checkSines judges sines recorded from a device ppm off nominal through
// jackd's dummy driver.
func checkSines(t *testing.T, x [][]float64, ppm float64, b sineBars) {
	t.Helper()
	rate := jackDummyRate()
	t.Logf("jackd's dummy driver runs %+.3f ppm off 48 kHz in CLOCK_MONOTONIC seconds", (rate/48000-1)*1e6)
	checkSinesAt(t, x, ppm, rate, b)
}

// sineTruth is the frequency channel c's sine (the simulator's and the
// test PCM's: DefaultFreq·(1+c/4)) from a device ppm fast measures in a
// recording by a graph whose true rate is graphRate, read at 48 kHz.
func sineTruth(c int, ppm, graphRate float64) float64 {
	return sim.ChannelFreq(sim.DefaultFreq, c) * (1 + ppm*1e-6) * 48000 / graphRate
}

// noGapCounted reports whether sgbridge's final statistics show no gap of
// its own in what it delivered: no underrun, resync, skipped cycle or
// lost interrupt. Only then can a gap in a recording be the recorder's.
func noGapCounted(st map[string]uint64) bool {
	return st["underruns"] == 0 && st["resyncs"] == 0 && st["skipped_cycles"] == 0 && st["lost_irqs"] == 0
}

// checkSinesAt applies the drift issue's analysis to a recording of the
// simulator's sine signal from a device ppm off nominal, after settling:
// every channel at its true frequency over the whole recording, THD+N of
// every 100 ms window, and the glitch search, held to b
// (SGB_DEBUG_WINDOWS=1 logs each window worse than -122 dB). graphRate is
// the graph's true rate on CLOCK_MONOTONIC, Hz: a sine of F Hz recorded
// by a graph running at graphRate measures F·48000/graphRate when its
// samples are read at the nominal 48 kHz.
func checkSinesAt(t *testing.T, x [][]float64, ppm, graphRate float64, b sineBars) {
	t.Helper()
	const rate = 48000.0
	for c := range x {
		truth := sineTruth(c, ppm, graphRate)
		s := x[c][analysis.SkipZeros(x[c]):]
		if len(s) < int(10*rate) {
			t.Fatalf("channel %d: only %d frames of signal", c+1, len(s))
		}
		fit, err := analysis.FitSine(s, rate, truth)
		if err != nil {
			t.Fatalf("channel %d: %v", c+1, err)
		}
		off := (fit.Freq/truth - 1) * 1e6
		ws, err := analysis.Windows(s, rate, truth, 4800)
		if err != nil {
			t.Fatalf("channel %d: %v", c+1, err)
		}
		sum := analysis.Summarize(ws)
		if v := os.Getenv("SGB_DEBUG_WINDOWS"); v != "" {
			// The value is the THD+N above which a window is logged.
			above, err := strconv.ParseFloat(v, 64)
			if err != nil {
				above = -122
			}
			for i, w := range ws {
				if w.THDN > above {
					t.Logf("DEBUG ch%d window %d (%.1f s): %.1f dB, freq %+.4f ppm", c+1, i, float64(w.Start)/rate, w.THDN, (w.Fit.Freq/truth-1)*1e6)
				}
			}
		}
		glitches, err := analysis.Glitches(s, rate, truth, 4800, b.GlitchDB)
		if err != nil {
			t.Fatalf("channel %d: %v", c+1, err)
		}
		t.Logf("channel %d: %.6f Hz (%+.4f ppm from the true %.6f Hz); %s; %d glitches above %g dB",
			c+1, fit.Freq, off, truth, sum, len(glitches), b.GlitchDB)
		if math.Abs(off) > b.FreqPPM {
			t.Errorf("channel %d: frequency %+.4f ppm from the device's true frequency (limit %g)", c+1, off, b.FreqPPM)
		}
		if sum.Missing > 0 || sum.WorstTHDN > b.WorstDB {
			t.Errorf("channel %d: worst 100 ms window %.1f dB THD+N at frame %d, %d windows without a sine (limit %g)",
				c+1, sum.WorstTHDN, sum.WorstStart, sum.Missing, b.WorstDB)
		}
		if len(glitches) > 0 {
			t.Errorf("channel %d: %d glitches, first at %v; the signal after the first is shifted by %s",
				c+1, len(glitches), glitches[:min(5, len(glitches))], shiftAcross(s, rate, truth, glitches[0]))
		}
	}
}

// shiftAcross says how far the sine after glitch g is shifted in time
// against the sine before it, in frames, modulo the sine's period: frames
// dropped (or repeated) move it by their count. A recorder or graph that
// dropped a quantum moves every channel by the same whole quanta, which
// the channels' different periods tell apart from a device buffer.
func shiftAcross(s []float64, rate, freq float64, g analysis.Glitch) string {
	d, ok := shiftFrames(s, rate, freq, g)
	if !ok {
		return "? (too near an end, or no fit)"
	}
	return fmt.Sprintf("%+.2f frames (mod %.2f)", d, rate/freq)
}

// shiftFrames is shiftAcross's figure: frames, in (-period/2, period/2].
func shiftFrames(s []float64, rate, freq float64, g analysis.Glitch) (float64, bool) {
	const span, guard = 9600, 480
	a, b := g.Index-guard-span, g.Index+g.Len+guard
	if a < 0 || b+span > len(s) {
		return 0, false
	}
	before, err1 := analysis.FitSine(s[a:a+span], rate, freq)
	after, err2 := analysis.FitSine(s[b:b+span], rate, freq)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	// The phase the sine before would have at b, against the one it has.
	want := before.Phase + 2*math.Pi*before.Freq*float64(b-a)/rate
	d := math.Remainder(after.Phase-want, 2*math.Pi)
	return d / (2 * math.Pi) * rate / freq, true
}

// TestShiftAcross: a sine with 256 frames cut out reads as shifted by 256
// frames modulo its period.
func TestShiftAcross(t *testing.T) {
	const rate, freq = 48000.0, 997.0
	x := analysis.Sine64(96000, rate, freq, 0.5, 0.3)
	x = append(x[:48000:48000], x[48000+256:]...)
	g, err := analysis.Glitches(x, rate, freq, 4800, -110)
	if err != nil || len(g) == 0 {
		t.Fatalf("glitch not found: %v %v", g, err)
	}
	got := shiftAcross(x, rate, freq, g[0])
	period := rate / freq
	want := math.Remainder(256, period)
	if !strings.HasPrefix(got, fmt.Sprintf("%+.2f", want)) {
		t.Fatalf("shiftAcross = %s, want %+.2f frames", got, want)
	}
}

// noteSineRecorderDrop marks st when a recording of sines (channel c at
// truths[c] Hz) lost exactly one graph cycle in every channel at once while
// sgbridge counted no gap of its own: the recorder missed it (it does,
// now and then, on a loaded machine), and disturbed repeats the run.
func noteSineRecorderDrop(st map[string]uint64, x [][]float64, truths []float64) {
	if noGapCounted(st) && recorderDrop(x, 48000, truths, 256) == 256 {
		st["recorder_dropped_frames"] = 256
	}
}

// recorderDrop says whether a recording of sines (channel c at truths[c]
// Hz) broke only because frames went missing after sgbridge handed them
// over: every channel's first glitch at the same frame, and the time
// shift across it the same whole number of graph quanta in every channel
// (channels of different periods leave one answer; two independent
// bridges breaking at the same frame are the recorder's). It returns the
// frames dropped, or 0. sgbridge cannot lose whole quanta without
// counting them (an underrun, a skipped cycle, a resync); a recorder that
// missed a cycle does, now and then, on a loaded machine.
func recorderDrop(x [][]float64, rate float64, truths []float64, quantum int) int {
	if len(x) < 2 || len(truths) != len(x) {
		return 0
	}
	at := -1
	shifts := make([]float64, len(x))
	for c := range x {
		s := x[c][analysis.SkipZeros(x[c]):]
		off := len(x[c]) - len(s)
		g, err := analysis.Glitches(s, rate, truths[c], 4800, -110)
		if err != nil || len(g) == 0 {
			return 0
		}
		if i := off + g[0].Index; at < 0 {
			at = i
		} else if i < at-8 || i > at+8 {
			return 0
		}
		d, ok := shiftFrames(s, rate, truths[c], g[0])
		if !ok {
			return 0
		}
		shifts[c] = d
	}
	for k := 1; k <= 16; k++ {
		for _, sign := range []int{1, -1} {
			n := sign * k * quantum
			fits := true
			for c, d := range shifts {
				if math.Abs(math.Remainder(float64(n)-d, rate/truths[c])) > 0.5 {
					fits = false
					break
				}
			}
			if fits {
				return n
			}
		}
	}
	return 0
}

// TestRecorderDrop: a quantum cut from every channel at once is the
// recorder's, channels of one frequency (two bridges' outputs) included;
// a cut of another size, or from one channel, is not.
func TestRecorderDrop(t *testing.T) {
	const rate = 48000.0
	two, one := []float64{997, 1246.25}, []float64{997, 997}
	cut := func(truths []float64, n int, channels ...int) [][]float64 {
		x := make([][]float64, len(truths))
		for c, f := range truths {
			x[c] = analysis.Sine64(96000, rate, f, 0.5, 0.3+float64(c))
			if slices.Contains(channels, c) {
				x[c] = append(x[c][:48000:48000], x[c][48000+n:]...)
			}
		}
		return x
	}
	for _, tc := range []struct {
		name   string
		truths []float64
		x      [][]float64
		want   int
	}{
		{"one quantum from both", two, cut(two, 256, 0, 1), 256},
		{"two quanta from both", two, cut(two, 512, 0, 1), 512},
		{"100 frames from both", two, cut(two, 100, 0, 1), 0},
		{"one quantum from one", two, cut(two, 256, 1), 0},
		{"nothing cut", two, cut(two, 0), 0},
		{"one quantum from two streams of one frequency", one, cut(one, 256, 0, 1), 256},
		{"one quantum from one of two streams of one frequency", one, cut(one, 256, 0), 0},
	} {
		if got := recorderDrop(tc.x, rate, tc.truths, 256); got != tc.want {
			t.Errorf("%s: recorderDrop = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// gcStressArgs are sgbridge's arguments for a goroutine allocating mbps
// MB/s inside it (none when mbps is 0).
func gcStressArgs(mbps float64) []string {
	if mbps <= 0 {
		return nil
	}
	return []string{"--gc-stress", strconv.FormatFloat(mbps, 'f', -1, 64)}
}

// gcSeen is what realtime judges a run by: under GC pressure a held
// interrupt loop is what is being measured, not the machine, so the
// worst stall does not make the run disturbed.
func gcSeen(st map[string]uint64, mbps float64) map[string]uint64 {
	if mbps <= 0 {
		return st
	}
	seen := maps.Clone(st)
	delete(seen, "worst_stall_us")
	return seen
}
