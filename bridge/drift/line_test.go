package drift

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Raw wake-ups are late by a latency whose spread changes with the
// machine's load while its lower edge stays at the cycle's true start. A
// line fed them as arrivals must measure the rate from that edge; the
// least-squares line on the same times reads the load's change as rate.
// Each case runs the graph clock off nominal and lets the latency's spread
// grow (or shrink) over the run.
func TestLineEdgeFollowsTheLowerEdge(t *testing.T) {
	const rate, period = 48000.0, 256
	for _, tc := range []struct {
		name           string
		ppm            float64 // the graph clock's true rate offset
		spread0, grown float64 // latency spread at the start and at the end, s
		seconds        float64
	}{
		{"load grows", 20, 50e-6, 200e-6, 10},
		{"load falls", -35, 300e-6, 60e-6, 10},
		{"steady, short", 0, 80e-6, 80e-6, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(tc.ppm+1000)))
			var edge, mean line
			edge.init(rate)
			mean.init(rate)
			cycles := int(tc.seconds * rate / period)
			for k := range cycles {
				f := uint64(k * period)
				at := float64(f) / rate / (1 + tc.ppm*1e-6) // true start, s
				spread := tc.spread0 + (tc.grown-tc.spread0)*float64(k)/float64(cycles)
				wake := int64((at + rng.Float64()*spread) * 1e9)
				edge.addArrival(1_000_000_000+wake, f)
				mean.add(1_000_000_000+wake, f)
			}
			if !edge.valid() || !edge.hullOK {
				t.Fatalf("edge line not valid after %g s (hull %v)", tc.seconds, edge.hullOK)
			}
			errEdge := (1/edge.p() - 1 - tc.ppm*1e-6) * 1e6
			errMean := (1/mean.p() - 1 - tc.ppm*1e-6) * 1e6
			t.Logf("rate error: lower edge %+.3f ppm, least squares %+.3f ppm", errEdge, errMean)
			if math.Abs(errEdge) > 0.3 {
				t.Errorf("lower-edge line off by %+.3f ppm, want within 0.3", errEdge)
			}
			// The phase is the edge: the line at the last cycle sits at its
			// true start, not at the latency's mean.
			last := uint64((cycles - 1) * period)
			at := float64(last) / rate / (1 + tc.ppm*1e-6)
			if d := (edge.timeOf(float64(last)) + float64(edge.base)*secondsPerNs - 1 - at) * 1e6; d < -2 || d > 5 {
				t.Errorf("lower-edge line puts the last cycle's start %+.2f µs from the truth, want within -2..5", d)
			}
			if tc.spread0 != tc.grown && math.Abs(errMean) < 5*math.Abs(errEdge) {
				t.Errorf("least squares %+.3f ppm is not clearly worse than the edge: the case does not test the edge", errMean)
			}
		})
	}
}

// A line is one kind: fed filtered times after wake-ups it starts over.
func TestLineStartsOverWhenTheKindChanges(t *testing.T) {
	var l line
	l.init(48000)
	for k := range 400 {
		l.addArrival(int64(k)*5_333_333+1000, uint64(k*256))
	}
	if !l.valid() || !l.edge {
		t.Fatalf("after 400 wake-ups: valid %v, edge %v", l.valid(), l.edge)
	}
	l.add(400*5_333_333, 400*256)
	if l.edge || l.valid() || l.fitN > 1 {
		t.Errorf("after a filtered time: edge %v, valid %v, %g samples; want a fresh line", l.edge, l.valid(), l.fitN)
	}
}
