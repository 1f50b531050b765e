// The issue's targets on virtual time. Every figure of the closing note
// comes from these tests' logs:
//
//	GOFLAGS=-mod=mod go test -run 'TestSim|Test24' -v ./bridge/drift/

package drift_test

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"testing"

	"github.com/sgbridge/sgbridge/bridge/drift"
	"github.com/sgbridge/sgbridge/internal/jacktrace"
)

// TestSimOffsets is the issue's matrix at 20 µs RMS of interrupt latency
// (late-only, 0-69 µs): every offset, lost interrupts, 100 ms loop
// stalls, a JACK-like sink on its own clock; 20 simulated minutes each.
//
// Lock: the issue asks for 1 ppm within 5 s from ±200 ppm. At 20 µs RMS
// and 187.5 interrupts a second the rate of a line fitted over T seconds
// has a standard error of σ·sqrt(12/n)/T = 0.45 ppm at T = 5 s (n = 937),
// about 0.5 ppm with the sink's own estimate, so "below 1 ppm from 5 s
// on" would be a two-sigma event; the stamps' lower hull knows the rate
// far better (its error falls as 1/n), and nine runs in ten lock within
// 4.2 s (TestLockSpread). The bound here is 7 s, for the tail.
func TestSimOffsets(t *testing.T) {
	for _, ppm := range offsets {
		want := issueTargets
		want.lock = 7
		r, err := runSim(faults(simConfig{devPPM: ppm, irqJitter: 20e-6, duration: 1200, settle: 60, seed: uint64(ppm + 5000)}))
		if err != nil {
			t.Fatal(err)
		}
		check(t, fmt.Sprintf("offset %+5.0f ppm, 20 µs", ppm), r, want)
	}
}

// TestLockSpread runs ±200 ppm at 20 µs over many seeds (one simulated
// minute each) and logs the lock-time distribution: median 2.9 s, 90th
// percentile 4.2 s, worst 6.0 s over these 100. The device rate from the
// stamps' lower hull does that: from the filter's least-squares rate
// alone they measured 4.0, 5.5 and 8.7 s, and with exact device stamps
// 2.6, 3.6 and 4.7 s (the graph clock's share).
func TestLockSpread(t *testing.T) {
	var locks []float64
	for _, ppm := range []float64{-200, 200} {
		for seed := uint64(1); seed <= 50; seed++ {
			r, err := runSim(faults(simConfig{devPPM: ppm, irqJitter: 20e-6, duration: 60, settle: 60, seed: seed*7919 + uint64(ppm+1000)}))
			if err != nil {
				t.Fatal(err)
			}
			locks = append(locks, r.lockTime)
		}
	}
	sort.Float64s(locks)
	med, p90, worst := locks[len(locks)/2], locks[len(locks)*9/10], locks[len(locks)-1]
	t.Logf("lock to 1 ppm from ±200 ppm, 20 µs, %d runs: median %.2f s, 90th percentile %.2f s, worst %.2f s", len(locks), med, p90, worst)
	if med > 4 || p90 > 5 {
		t.Errorf("lock: median %.2f s, 90th percentile %.2f s: want <= 4 s and <= 5 s", med, p90)
	}
}

// TestSimDriftRamps adds drift ramps of 5 ppm per minute (a sine of 8 min
// period, so the ramp turns smoothly, as thermal drift does). The clock
// filters carry the drift and its rate of change as states, so following
// the ramp costs little ratio accuracy; lock is looser while the drift
// itself is still being measured.
func TestSimDriftRamps(t *testing.T) {
	want := issueTargets
	want.lock = 8
	for _, ppm := range offsets {
		r, err := runSim(faults(simConfig{devPPM: ppm, irqJitter: 20e-6, rampPPMPerMin: 5, rampSine: true, rampPeriod: 480,
			duration: 1200, settle: 60, seed: uint64(ppm + 6000)}))
		if err != nil {
			t.Fatal(err)
		}
		check(t, fmt.Sprintf("offset %+5.0f ppm, 20 µs, ramps", ppm), r, want)
	}
}

// TestSimJitter1ms: interrupt latency up to 1 ms (uniform 0-1 ms, 289 µs
// RMS; fifteen times the realistic figure). Physics: the rate over T
// seconds is known to 289 µs·sqrt(12/(187.5·T))/T by least squares, 1
// ppm only after ~20 s; the lower hull of 4096 stamps (21.8 s) knows it
// to about 0.09 ppm, and a steady clock is measured better by a longer
// memory: the slow filter leaves 0.044-0.049 ppm RMS of device rate
// error and 0.063-0.067 of ratio error (the short one alone, 0.10-0.11).
// Lock to 1 ppm takes from 7 s to two minutes: at 5 s the hull of 940
// stamps scatters by 1.7 ppm, so no estimator locks to 1 ppm by then.
// The delay stays within a frame: the device phase is taken from the
// stamps' lower edge, not their mean, which sits 0.5 ms (24 frames) late.
func TestSimJitter1ms(t *testing.T) {
	want := target{ratioRMS: issueTargets.ratioRMS, stepMax: 0.01, win100: 0.2, delayMax: 2, noUnderrun: true}
	for _, ppm := range offsets {
		r, err := runSim(faults(simConfig{devPPM: ppm, irqJitter: 1e-3 / math.Sqrt(12), duration: 3600, settle: 600, seed: uint64(ppm + 8000)}))
		if err != nil {
			t.Fatal(err)
		}
		check(t, fmt.Sprintf("offset %+5.0f ppm, 0-1 ms", ppm), r, want)
		if math.Abs(r.delayMean) > 1 {
			t.Errorf("offset %+5.0f ppm, 0-1 ms: latency %+.2f frames off on average: the phase follows the stamps' mean", ppm, r.delayMean)
		}
		if r.stats.Resyncs > 4 {
			t.Errorf("offset %+5.0f ppm, 0-1 ms: %d resyncs in an hour", ppm, r.stats.Resyncs)
		}
		if r.stats.LongMemory != 1 {
			t.Errorf("offset %+5.0f ppm, 0-1 ms: the long-memory filter has a share of %.2f at the end, want 1 (a steady clock)", ppm, r.stats.LongMemory)
		}
	}
}

// TestSimJitter1msRamps: 0-1 ms of latency and ±5 ppm/min drift ramps at
// once, the worst the issue's conditions combine to. The hull's window
// is the compromise between the two: 4096 stamps leave 0.13 ppm RMS here
// (over the issue's 0.1) and 0.36 frames RMS of delay; a window of 12288
// took the steady 1 ms case to 0.07-0.09 ppm but this one to 0.31 ppm and
// a frame of delay. The slow filter is no help here (it lags the ramps to
// 0.94 ppm and is left out), and a filter of twice the process noise
// trades steady noise for lag at the same 0.13. Rough physics: the rate
// now, extrapolated over a window W whose hull halves each know their
// rate to 32/(n·f0·W), is off by about 270/W² ppm (W in s), and a linear
// rate over W misses the sine ramp's turns by up to 6e-5·W² ppm: the sum
// is least near W = 45 s, at about 0.18 ppm. The bounds are
// TestSimJitter1ms's, with the ratio's at 0.15.
func TestSimJitter1msRamps(t *testing.T) {
	want := target{ratioRMS: 0.15, stepMax: 0.01, win100: 0.2, delayMax: 2, noUnderrun: true}
	for _, ppm := range []float64{-200, 200} {
		r, err := runSim(faults(simConfig{devPPM: ppm, irqJitter: 1e-3 / math.Sqrt(12), rampPPMPerMin: 5, rampSine: true,
			rampPeriod: 480, duration: 3600, settle: 600, seed: uint64(ppm + 8100)}))
		if err != nil {
			t.Fatal(err)
		}
		check(t, fmt.Sprintf("offset %+5.0f ppm, 0-1 ms, ramps", ppm), r, want)
	}
}

// TestSimRampStarts: a clock steady for 20 minutes, so the slow filter
// carries the rate, starts drifting at once at 5 ppm/min (the steepest
// point of the sine ramp, a kink no crystal makes). The slow filter lags
// it; its miss against the hull grows within seconds and the rate goes
// back to dev's. Measured: 0.80-0.86 ppm worst ratio error and 0.60
// frames of delay, as dev alone gives (0.80-0.85, 0.60); the slow filter
// kept on gives 1.9 ppm and 2.5 frames, which fails here.
func TestSimRampStarts(t *testing.T) {
	for _, ppm := range []float64{-200, 200} {
		r, err := runSim(faults(simConfig{devPPM: ppm, irqJitter: 20e-6, rampPPMPerMin: 5, rampSine: true, rampPeriod: 480,
			rampFrom: 1200, duration: 2400, settle: 60, seed: uint64(ppm + 9000)}))
		if err != nil {
			t.Fatal(err)
		}
		check(t, fmt.Sprintf("offset %+5.0f ppm, ramps from 20 min", ppm), r, target{ratioRMS: 0.2, stepMax: 0.01, win100: 0.2, delayMax: 1, noUnderrun: true})
		if r.ratioMax > 1.2 {
			t.Errorf("offset %+5.0f ppm: the ratio was %.2f ppm off at %.0f s, want under 1.2: the slow filter was kept through the ramp", ppm, r.ratioMax, r.ratioMaxAt)
		}
	}
}

// TestSimSymmetricJitter: stamps with zero-mean Gaussian jitter, as a
// bracket of looks at the device gives them (Input.Late false): the phase
// and the rate are the filter's, the mean of the stamps, which is right
// for them. (Had they been marked arrivals, the edge would sit about 2.9 σ
// early: 2.8 frames at 20 µs.)
func TestSimSymmetricJitter(t *testing.T) {
	want := issueTargets
	want.lock = 7
	for _, ppm := range []float64{-200, 200} {
		r, err := runSim(faults(simConfig{devPPM: ppm, irqJitter: 20e-6, symmetric: true, duration: 1200, settle: 60, seed: uint64(ppm + 5000)}))
		if err != nil {
			t.Fatal(err)
		}
		check(t, fmt.Sprintf("offset %+5.0f ppm, ±20 µs", ppm), r, want)
		if dev := math.Sqrt(math.Max(r.delayRMS*r.delayRMS-r.delayMean*r.delayMean, 0)); dev > 0.2 {
			t.Errorf("offset %+5.0f ppm, ±20 µs: delay deviation around its mean %.3f frames RMS", ppm, dev)
		}
	}
}

// TestSimLateBrackets: a grabber read by brackets a µs wide (UIO's
// register watch) whose completions now and then come late, as an
// emulator does when the host takes its CPU (2 % of them, up to 300 µs,
// which the brackets see as exact). Those stamps are outliers, not
// jitter: left out, they leave the ratio as clean as without them;
// clipped to four sigmas and used, they doubled its noise.
func TestSimLateBrackets(t *testing.T) {
	for _, ppm := range []float64{-150, 150} {
		for _, lp := range []float64{0, 0.02} {
			r, err := runSim(simConfig{devPPM: ppm, irqJitter: 1e-6, symmetric: true, lateProb: lp, lateMax: 300e-6,
				margin: 64, duration: 120, settle: 20, seed: uint64(ppm + 7000)})
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("offset %+4.0f ppm, %.0f %% late", ppm, lp*100)
			t.Logf("%s: ratio %.4f ppm RMS, largest change within 100 ms %.4f ppm, delay %.3f frames RMS, %d stamps clipped or left out",
				name, r.ratioRMS, r.win100Max, r.delayRMS, r.stats.LateIRQs)
			if r.ratioRMS > 0.02 || r.win100Max > 0.01 || r.delayRMS > 0.02 {
				t.Errorf("%s: ratio %.4f ppm RMS (limit 0.02), change within 100 ms %.4f (limit 0.01), delay %.3f frames RMS (limit 0.02)",
					name, r.ratioRMS, r.win100Max, r.delayRMS)
			}
			if r.stats.Resyncs != 0 || r.underruns != 0 {
				t.Errorf("%s: %d resyncs, %d underruns", name, r.stats.Resyncs, r.underruns)
			}
		}
	}
}

// TestSimArrivalBursts: a grabber read by µs-exact brackets whose watch
// now and then loses hold, so that eight stamps in a row are interrupt
// wake-ups, 100-300 µs late (UIO's register watch dropping its anchor).
// Those stamps say far less than the brackets around them; the device
// clock must not move for them.
func TestSimArrivalBursts(t *testing.T) {
	for _, ppm := range []float64{-150, 150} {
		r, err := runSim(simConfig{devPPM: ppm, irqJitter: 1e-6, symmetric: true, burstEvery: 5, burstLen: 8,
			margin: 64, duration: 120, settle: 20, seed: uint64(ppm + 9000)})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("offset %+4.0f ppm, bursts", ppm)
		t.Logf("%s: ratio %.4f ppm RMS (max %.4f), largest change within 100 ms %.4f ppm, device clock %.4f ppm RMS, delay %.3f frames RMS",
			name, r.ratioRMS, r.ratioMax, r.win100Max, r.devRMS, r.delayRMS)
		if r.ratioRMS > 0.02 || r.win100Max > 0.01 || r.delayRMS > 0.02 {
			t.Errorf("%s: ratio %.4f ppm RMS (limit 0.02), change within 100 ms %.4f (limit 0.01), delay %.3f frames RMS (limit 0.02)",
				name, r.ratioRMS, r.win100Max, r.delayRMS)
		}
		// The hull of a few arrivals among brackets says nothing of
		// the clock: trusting it, the long-memory filter came and went
		// and the UIO sine through PipeWire had windows at -108 dB.
		if r.longMax != 0 {
			t.Errorf("%s: the long-memory filter took a share of %.2f among brackets, want none", name, r.longMax)
		}
	}
}

// TestSimJACKWakeups: a JACK sink that also publishes its raw wake-ups,
// late after each cycle's true start by up to 200 µs (as a jackd on this
// VM), so that the graph clock is the wake-ups' lower hull instead of a
// line over the server DLL's times. The issue's targets hold.
func TestSimJACKWakeups(t *testing.T) {
	for _, ppm := range []float64{-200, 200} {
		sc := faults(simConfig{devPPM: ppm, irqJitter: 20e-6, duration: 600, settle: 60, seed: uint64(ppm + 8000)})
		sc.sinkLate = 50e-6
		r, err := runSim(sc)
		if err != nil {
			t.Fatal(err)
		}
		check(t, fmt.Sprintf("offset %+5.0f ppm, wake-ups", ppm), r, issueTargets)
	}
}

// Test24Hours: a day of virtual time with every fault and ramps; all the
// targets hold to the end. It runs in about 42 s here (16.2 million
// updates at BenchmarkUpdate's 1.9 µs, and the models).
func Test24Hours(t *testing.T) {
	want := issueTargets
	want.lock = 8
	r, err := runSim(faults(simConfig{devPPM: 200, irqJitter: 20e-6, rampPPMPerMin: 5, rampSine: true, rampPeriod: 480,
		duration: 86400, settle: 60, seed: 24}))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "24 h, +200 ppm, 20 µs, ramps", r, want)
	if r.stats.Resyncs != 0 || r.stats.ClockRestarts != 0 {
		t.Errorf("24 h: %d resyncs, %d clock restarts", r.stats.Resyncs, r.stats.ClockRestarts)
	}
}

// TestSimDeviceReturns: the device goes away and comes back as a new
// clock (a grabber unplugged and replugged, a UIO device rebound), 350
// ppm from the old one, and the engine resets the controller. The graph
// did not change, so what was measured of it is kept: its rate is the
// same the moment after the reset (measured afresh it would be unknown
// for the line's first second, and on a young jackd, lockSpanEdge long
// at best; TestALSAVanishAndReturn is that case on a real server). The
// return locks within the issue's 5 s, the ratio within 1 ppm of the
// truth within 5 s in nine runs in ten, and the steady targets hold after;
// on a server young when its line began, a return before the line spans
// lockSpanEdge (9.5 s) waits for that, as the first lock does. Twelve
// seeds each (on the settled server, median 2.4 s to 1 ppm against 3.0 s
// with the graph measured afresh).
func TestSimDeviceReturns(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sinkAge   float64
		restartAt float64
		lockBy    float64 // s after the return
	}{
		{"young server, return at 4 s", 1, 4, 9.5 - 4 + 1.5},
		{"young server, return at 12 s", 1, 12, 5},
		{"settled server, return at 60 s", 0, 60, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var relocks, locks []float64
			for seed := uint64(1); seed <= 12; seed++ {
				var (
					lastBad, lockedAt = tc.restartAt, math.NaN()
					acquiring         bool
					graphBefore       float64
					graphAfter        = math.NaN()
				)
				sc := faults(simConfig{devPPM: 200, irqJitter: 20e-6, duration: tc.restartAt + 240, settle: tc.restartAt + 60, seed: seed*7919 + 3})
				sc.sinkLate = 50e-6
				sc.sinkAge = tc.sinkAge
				sc.restartAt, sc.restartPPM, sc.restartGap = tc.restartAt, -150, 0.0021
				sc.every = func(tt, e float64, out drift.Output, st drift.Stats) {
					if out.State != drift.Locked && tt >= tc.restartAt {
						if !acquiring {
							graphAfter = st.GraphPPM // the first update after the reset
						}
						acquiring = true
					}
					if !acquiring {
						graphBefore = st.GraphPPM
						return
					}
					if math.Abs(e) >= 1 && tt < sc.settle {
						lastBad = tt
					}
					if out.State == drift.Locked && math.IsNaN(lockedAt) {
						lockedAt = tt
					}
				}
				r, err := runSim(sc)
				if err != nil {
					t.Fatal(err)
				}
				if graphAfter != graphBefore {
					t.Errorf("seed %d: the graph rate was %.3f ppm before the return and %.3f after: measured afresh", seed, graphBefore, graphAfter)
				}
				relocks = append(relocks, lastBad-tc.restartAt)
				locks = append(locks, lockedAt-tc.restartAt)
				want := issueTargets
				want.lock = math.Inf(1) // judged below
				check(t, fmt.Sprintf("%s, seed %d", tc.name, seed), r, want)
			}
			sort.Float64s(relocks)
			sort.Float64s(locks)
			n := len(relocks)
			t.Logf("after the return, %d runs: ratio within 1 ppm from %.2f s median, %.2f s 90th percentile, %.2f s worst; locked at %.2f s worst",
				n, relocks[n/2], relocks[n*9/10], relocks[n-1], locks[n-1])
			if relocks[n*9/10] > tc.lockBy || !(locks[n-1] < tc.lockBy) {
				t.Errorf("after the return: ratio within 1 ppm from %.2f s (90th percentile), locked at %.2f s (worst): want both < %.1f s", relocks[n*9/10], locks[n-1], tc.lockBy)
			}
		})
	}
}

// TestReplayYoungJACK runs the controller against six real jackd servers'
// wake-ups (testdata/README.md: dummy driver, real-time, recorded from
// 0.3 s after each server started, as the real-server tests start
// theirs), with a simulated device at ±200 ppm and 20 µs of interrupt
// latency, and judges what a recording from 10 to 40 s would show.
//
// On these servers the wake-ups' least latency wanders by tens of µs over
// seconds, so a young line's rate is off by ppm (one trace: +0.8 ppm at
// 5 s, -5.0 from 6 to 8 s, -1.1 at 10 s, against a truth of 0), and the
// line's own statistics do not see it. Locking on those statistics at 7 s
// left one trace's recording 1.57 ppm off with the queue 5.4 frames from
// its target; at an 8.5 s span another was 1.40 ppm and 3.8 frames off.
// At 9.5 s (lockSpanEdge), the statistics not heard before, every trace is
// within 0.43 ppm and 1.03 frames. Held here, so that it cannot get worse
// unseen: 0.5 ppm and 1.25 frames; the issue's 0.1 ppm and half a frame
// are not met on such a server (doc.go, "A sink that also gives").
func TestReplayYoungJACK(t *testing.T) {
	paths, err := filepath.Glob("testdata/jackd-young-wakeups-*.txt.gz")
	if err != nil || len(paths) != 6 {
		t.Fatalf("want the six traces in testdata: %v %v", paths, err)
	}
	const settle, end = 10, 40
	var worstMean, worstDelay float64
	for _, p := range paths {
		tr, err := jacktrace.Load(p, 48000, 256)
		if err != nil {
			t.Fatal(err)
		}
		for _, ppm := range []float64{-200, 200} {
			name := fmt.Sprintf("%s %+.0f ppm", filepath.Base(p), ppm)
			r, err := runSim(simConfig{devPPM: ppm, irqJitter: 20e-6, margin: stallMargin(20e-6),
				sinkWakes: tr.Late, sinkAge: float64(tr.Frames) / 48000, duration: end, settle: settle, seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: locked at %.2f s; %d-%d s: ratio %+.3f ppm mean, %.3f RMS, %.3f in 100 ms; delay %.2f frames at worst",
				name, r.lockedState, settle, end, r.ratioMean, r.ratioRMS, r.win100Max, r.delayMax)
			worstMean = math.Max(worstMean, math.Abs(r.ratioMean))
			worstDelay = math.Max(worstDelay, r.delayMax)
			switch {
			case !(r.lockedState > 0 && r.lockedState < settle):
				t.Errorf("%s: locked at %.2f s: want before the recording starts (%d s)", name, r.lockedState, settle)
			case math.Abs(r.ratioMean) > 0.5:
				t.Errorf("%s: the recording is %+.3f ppm off (held to 0.5)", name, r.ratioMean)
			case r.delayMax > 1.25:
				t.Errorf("%s: delay %.2f frames off the target (held to 1.25)", name, r.delayMax)
			case r.win100Max > issueTargets.win100:
				t.Errorf("%s: the ratio moved %.3f ppm within 100 ms (limit %.2f)", name, r.win100Max, issueTargets.win100)
			case r.underruns != 0 || r.overflows != 0 || r.stats.Resyncs != 0:
				t.Errorf("%s: %d underruns, %d overflows, %d resyncs", name, r.underruns, r.overflows, r.stats.Resyncs)
			}
		}
	}
	t.Logf("six young jackd servers: the recording within %.3f ppm, the queue within %.2f frames", worstMean, worstDelay)
}
