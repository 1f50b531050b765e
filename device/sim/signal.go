package sim

import (
	"fmt"
	"math"
	"strings"

	"github.com/sgbridge/sgbridge/device"
)

// Signal is what the simulated device captures.
type Signal int

const (
	// Sine puts channel c at Freq·(1 + c/4) Hz, amplitude 0.5, in device
	// time: on a device that runs ppm fast it sounds ppm high.
	Sine Signal = iota
	// Counter puts ((n + 4096·c) mod 2^23) / 2^23 at frame n of channel c:
	// every sample is distinct and exact through float32, so a recording
	// proves continuity and channel order bit for bit.
	Counter
	// Silence is all zeros.
	Silence
)

func (s Signal) String() string {
	switch s {
	case Sine:
		return "sine"
	case Counter:
		return "counter"
	case Silence:
		return "silence"
	}
	return fmt.Sprintf("Signal(%d)", int(s))
}

// ParseSignal reads a --sim-signal value.
func ParseSignal(s string) (Signal, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "sine":
		return Sine, nil
	case "counter":
		return Counter, nil
	case "silence":
		return Silence, nil
	}
	return 0, fmt.Errorf("unknown signal %q (want sine, counter or silence)", s)
}

// CounterValue is the counter signal's integer at frame n of channel c;
// the sample is CounterValue / 2^23.
func CounterValue(n uint64, c int) int32 {
	return int32((n + 4096*uint64(c)) & (1<<23 - 1))
}

// ChannelFreq is the sine frequency of channel c for base frequency f.
func ChannelFreq(f float64, c int) float64 { return f * (1 + float64(c)/4) }

// Generator writes a signal into buffers in a device's native format, as
// DMA would: the simulator and the UIO emulator both fill their buffers
// with it, so their recordings verify the same way. It keeps per-channel
// frequencies split into whole and fractional cycles per nominal second
// so the phase stays exact over days of frames.
type Generator struct {
	signal  Signal
	format  device.Format
	whole   []float64 // floor(f_c)
	frac    []float64 // f_c - floor(f_c)
	rate    uint64
	counter bool
}

// NewGenerator checks that f can carry sig (the counter needs 24 bits,
// every sine must stay below Nyquist) and returns its generator.
func NewGenerator(sig Signal, f device.Format, freq float64) (*Generator, error) {
	g := &Generator{signal: sig, format: f, rate: uint64(f.Rate)}
	switch sig {
	case Counter:
		if f.Sample.Bits() < 24 {
			return nil, fmt.Errorf("the counter signal needs a 24-bit, 32-bit or float format, not %s", f.Sample)
		}
	case Sine:
		if !(freq > 0) || freq >= float64(f.Rate)/2 {
			return nil, fmt.Errorf("sine frequency %g Hz is outside 0..%d Hz", freq, f.Rate/2)
		}
		for c := range f.Channels {
			fc := ChannelFreq(freq, c)
			if fc >= float64(f.Rate)/2 {
				return nil, fmt.Errorf("channel %d would carry %g Hz, above Nyquist (%d Hz): lower --sim-freq", c+1, fc, f.Rate/2)
			}
			g.whole = append(g.whole, math.Floor(fc))
			g.frac = append(g.frac, fc-math.Floor(fc))
		}
	case Silence:
	default:
		return nil, fmt.Errorf("unknown signal %v", sig)
	}
	return g, nil
}

// Fill writes frames first..first+len(buf)/FrameBytes-1 of the stream
// into buf, which holds whole frames.
func (g *Generator) Fill(buf []byte, first uint64) {
	f := g.format
	bps := f.Sample.Bytes()
	frames := len(buf) / f.FrameBytes()
	switch g.signal {
	case Silence:
		clear(buf)
	case Counter:
		for i := range frames {
			n := first + uint64(i)
			for c := range f.Channels {
				encodeCounter(buf[(i*f.Channels+c)*bps:], f.Sample, CounterValue(n, c))
			}
		}
	case Sine:
		for i := range frames {
			n := first + uint64(i)
			sec, rem := n/g.rate, n%g.rate
			for c := range f.Channels {
				// cycles = f·n/rate = f·sec + f·rem/rate; the integer part of
				// whole·sec drops out of the phase exactly.
				cyc := g.frac[c]*float64(sec) + (g.whole[c]+g.frac[c])*float64(rem)/float64(g.rate)
				cyc -= math.Floor(cyc)
				device.Encode(buf[(i*f.Channels+c)*bps:], f.Sample, 0.5*math.Sin(2*math.Pi*cyc))
			}
		}
	}
}

func encodeCounter(p []byte, s device.SampleFormat, v int32) {
	device.Encode(p, s, float64(v)/(1<<23))
}
