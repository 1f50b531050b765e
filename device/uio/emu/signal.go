package emu

import (
	"fmt"
	"math"

	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/device/sim"
)

// generator writes the simulator's signals (sim.CounterValue and
// sim.ChannelFreq define them; a recording of either must verify the same
// way) in the device's native format.
type generator struct {
	signal sim.Signal
	format device.Format
	whole  []float64 // floor(f_c)
	frac   []float64 // f_c - floor(f_c): phase stays exact over hours
}

func newGenerator(sig sim.Signal, f device.Format, freq float64) (*generator, error) {
	g := &generator{signal: sig, format: f}
	switch sig {
	case sim.Counter:
		if f.Sample.Bits() < 24 {
			return nil, fmt.Errorf("the counter signal needs a 24-bit, 32-bit or float format, not %s", f.Sample)
		}
	case sim.Sine:
		for c := range f.Channels {
			fc := sim.ChannelFreq(freq, c)
			if !(fc > 0) || fc >= float64(f.Rate)/2 {
				return nil, fmt.Errorf("channel %d would carry %g Hz, outside 0..%d Hz", c+1, fc, f.Rate/2)
			}
			g.whole = append(g.whole, math.Floor(fc))
			g.frac = append(g.frac, fc-math.Floor(fc))
		}
	case sim.Silence:
	default:
		return nil, fmt.Errorf("unknown signal %v", sig)
	}
	return g, nil
}

// fill writes frames first.. of the stream into buf (whole frames).
func (g *generator) fill(buf []byte, first uint64) {
	f := g.format
	bps := f.Sample.Bytes()
	frames := len(buf) / f.FrameBytes()
	rate := uint64(f.Rate)
	switch g.signal {
	case sim.Silence:
		clear(buf)
	case sim.Counter:
		for i := range frames {
			n := first + uint64(i)
			for c := range f.Channels {
				device.Encode(buf[(i*f.Channels+c)*bps:], f.Sample, float64(sim.CounterValue(n, c))/(1<<23))
			}
		}
	case sim.Sine:
		for i := range frames {
			n := first + uint64(i)
			sec, rem := n/rate, n%rate
			for c := range f.Channels {
				cyc := g.frac[c]*float64(sec) + (g.whole[c]+g.frac[c])*float64(rem)/float64(rate)
				cyc -= math.Floor(cyc)
				device.Encode(buf[(i*f.Channels+c)*bps:], f.Sample, 0.5*math.Sin(2*math.Pi*cyc))
			}
		}
	}
}
