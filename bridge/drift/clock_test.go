package drift

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A first interrupt stamped a period late (a grabber that had an
// interrupt pending when it was unmasked, so the first completion is
// stamped at start-up instead of when its buffer completed) must not
// leave the device clock wrong: the filter must still measure the true
// rate to well under a ppm within seconds.
func TestClockRecoversFromStaleFirstStamp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		period int
		late   float64 // s, the first stamp's error
		ppm    float64
	}{
		{"period 512, first a period late", 512, 10.52e-3, 150},
		{"period 256, first a period late", 256, 5.2e-3, -200},
		{"period 512, first 2 ms early", 512, -2e-3, 0},
		{"period 512, no bad stamp", 512, 0, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Config{DeviceRate: 48000, GraphRate: 48000, DevicePeriod: tc.period,
				GraphPeriod: 256, Target: 1000})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			const jitter = 20e-6
			sec := float64(tc.period) / 48000 / (1 + tc.ppm*1e-6) // true seconds per period
			var at float64
			for i := 1; i <= int(10/sec); i++ {
				ts := float64(i)*sec + rng.NormFloat64()*jitter
				if i == 1 {
					ts += tc.late
				}
				c.dev.update(int64(ts*1e9), uint64(i*tc.period))
				got := (1/c.dev.p - 1) * 1e6
				if math.Abs(got-tc.ppm) < 1 {
					if at == 0 {
						at = float64(i) * sec
					}
				} else {
					at = 0
				}
			}
			got := (1/c.dev.p - 1) * 1e6
			t.Logf("rate %+.3f ppm (true %+g) after 10 s, within 1 ppm from %.2f s on; %d resets, %d clipped, %d left out",
				got, tc.ppm, at, c.dev.resets, c.dev.rejects, c.dev.dropped)
			if at == 0 || at > 5 {
				t.Errorf("rate not within 1 ppm of the truth from 5 s on: %+.3f ppm at 10 s, true %+g", got, tc.ppm)
			}
		})
	}
}

// The warm-up check leaves out exactly the points off the others' line,
// whatever the jitter, the lost interrupts or the rate.
func TestWarmupLeavesOutInconsistentPoints(t *testing.T) {
	for _, tc := range []struct {
		name   string
		jitter float64         // s RMS
		bad    map[int]float64 // point index -> error, s
		skip   map[int]bool    // interrupts lost before this point
		want   uint64
	}{
		{"clean", 20e-6, nil, nil, 0},
		{"first a period late", 20e-6, map[int]float64{0: 5.3e-3}, nil, 1},
		{"three of eight off", 20e-6, map[int]float64{0: 5e-3, 3: -2e-3, 5: 9e-3}, nil, 3},
		{"lost interrupts are not bad points", 20e-6, nil, map[int]bool{2: true, 6: true}, 0},
		{"1 ms jitter keeps every point", 1e-3, nil, nil, 0},
		{"1 ms jitter, one 20 ms off", 1e-3, map[int]float64{4: 20e-3}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			var c clock
			c.init(48000, 1e-30, 1e-9, 1e-12, 50e-6, 25e-12, nil)
			const period = 256
			sec := period / 48000.0 * (1 + 300e-6)
			k := 1
			for i := range warmup {
				if tc.skip[i] {
					k++
				}
				ts := float64(k)*sec + rng.NormFloat64()*tc.jitter + tc.bad[i]
				c.update(int64(ts*1e9), uint64(k*period))
				k++
			}
			if c.dropped != tc.want || c.n != warmup-int(tc.want) {
				t.Errorf("left out %d points, filter fed %d; want %d left out", c.dropped, c.n, tc.want)
			}
		})
	}
}

// The device phase comes from the stamps' lower edge, not their mean:
// with late-only stamps the edge sits within a few µs of the true
// completions while the filter's own phase (tau) sits at the mean
// latency; one early stamp (a clock read gone wrong) does not move it.
// The rate is the filter's with the lower hull fed in: once the hull's
// window is full (from 25 s on) it is judged against the same filter fed
// the same stamps marked as brackets, which takes no hull.
func TestClockEdge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		late    float64 // s: latency uniform in [0, late)
		early   float64 // s: one stamp this early at 12 s
		tol     float64 // s: |edge - truth| allowed
		mean    bool    // the stamps are not marked arrivals: the phase is their mean
		rateTol float64 // ppm RMS: rate error allowed from 25 s on
		gain    float64 // the filter alone must be this many times worse
	}{
		{"late 0-69 µs", 69e-6, 0, 3e-6, false, 0.06, 3},
		{"late 0-1 ms", 1e-3, 0, 35e-6, false, 1, 3},
		{"late 0-69 µs, one stamp 1 ms early", 69e-6, 1e-3, 3e-6, false, 0.06, 3},
		{"exact stamps", 0, 0, 0.5e-6, false, 0.01, 0},
		{"0-69 µs, not marked arrivals: the mean", 69e-6, 0, 0.5e-6, true, 0.2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c, ref *Controller
			for _, p := range []**Controller{&c, &ref} {
				var err error
				*p, err = New(Config{DeviceRate: 48000, GraphRate: 48000, DevicePeriod: 256, GraphPeriod: 256, Target: 1000})
				if err != nil {
					t.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(3, 4))
			const ppm = 120
			sec := 256.0 / 48000 / (1 + ppm*1e-6)
			trueP := 1 / (1 + ppm*1e-6)
			t0 := 100.0
			var worst, tauOff, rateErr, refErr float64
			n, nr := 0, 0
			for i := 1; i <= int(60/sec); i++ {
				truth := t0 + float64(i)*sec
				ts := truth + rng.Float64()*tc.late
				if tc.early > 0 && i == int(12/sec) {
					ts = truth - tc.early
				}
				c.dev.update(int64(ts*1e9), uint64(i*256))
				c.dev.noteLate(!tc.mean)
				ref.dev.update(int64(ts*1e9), uint64(i*256))
				ref.dev.noteLate(false)
				if float64(i)*sec < 10 {
					continue
				}
				n++
				base := float64(c.dev.base) * 1e-9
				want := truth
				if tc.mean {
					want = base + c.dev.tau
				}
				if e := math.Abs(base + c.dev.edge() - want); e > worst {
					worst = e
				}
				tauOff = base + c.dev.tau - truth
				if float64(i)*sec < 25 {
					continue
				}
				nr++
				rateErr += math.Pow((c.dev.p-trueP)*1e6, 2)
				refErr += math.Pow((ref.dev.p-trueP)*1e6, 2)
			}
			if n < 9000 || nr < 6500 {
				t.Fatalf("only %d/%d stamps judged", n, nr)
			}
			rateErr, refErr = math.Sqrt(rateErr/float64(nr)), math.Sqrt(refErr/float64(nr))
			t.Logf("edge within %.2f µs of the completions from 10 s on; the filter's mean phase %.1f µs late; rate %.4f ppm RMS off from 25 s on (the filter without the hull %.4f)",
				worst*1e6, tauOff*1e6, rateErr, refErr)
			if rateErr > tc.rateTol {
				t.Errorf("rate %.4f ppm RMS off, want <= %.4f", rateErr, tc.rateTol)
			}
			if tc.gain > 0 && rateErr*tc.gain > refErr {
				t.Errorf("rate %.4f ppm RMS off with the hull, %.4f without: want %.1f times better", rateErr, refErr, tc.gain)
			}
			if worst > tc.tol {
				t.Errorf("edge %.2f µs off the true completions, want <= %.2f", worst*1e6, tc.tol*1e6)
			}
			// The early stamp is left out of the hull, and nothing else is.
			if want := tc.early > 0; (c.dev.earlies > 0) != want {
				t.Errorf("%d hull vertices left out as early; want them only with an early stamp", c.dev.earlies)
			}
		})
	}
}
