package analysis

import (
	"fmt"
	"math"
)

// CounterModulus is the period of sgbridge's counter signal: channel c,
// frame n carries ((n0 + n + CounterChannelOffset*c) mod 2^23) / 2^23,
// which float32 holds exactly, so any change to a sample is visible.
const (
	CounterModulus       = 1 << 23
	CounterChannelOffset = 4096
)

// CounterError says where and how a counter signal is broken.
type CounterError struct {
	Channel int
	Index   int     // first bad sample
	Want    float64 // expected value at Index
	Got     float64
	Bad     int // samples that differ from the expected count
	Total   int // samples checked
	Jumps   int // places where a sample is not its predecessor plus one
}

func (e *CounterError) Error() string {
	wk := counterValue(e.Want)
	what := "not a counter value"
	if gk, ok := counterIndex(e.Got); ok {
		switch d := wrapCount(int64(gk) - int64(wk)); {
		case d < 0:
			what = fmt.Sprintf("count %d: %d frame(s) repeated", gk, -d)
		default:
			what = fmt.Sprintf("count %d: %d frame(s) skipped", gk, d)
		}
	}
	return fmt.Sprintf("analysis: counter channel %d: %d of %d samples bad (%d discontinuities); first at index %d: want %v (count %d), got %v (%s)",
		e.Channel, e.Bad, e.Total, e.Jumps, e.Index, e.Want, wk, e.Got, what)
}

// counterIndex returns k if v is exactly k/2^23 with 0 <= k < 2^23.
func counterIndex(v float64) (uint32, bool) {
	k := v * CounterModulus
	if !(k >= 0 && k < CounterModulus) || k != math.Trunc(k) {
		return 0, false
	}
	return uint32(k), true
}

func counterValue(v float64) uint32 { k, _ := counterIndex(v); return k }

// wrapCount maps a count difference into [-2^22, 2^22).
func wrapCount(d int64) int64 {
	d %= CounterModulus
	if d >= CounterModulus/2 {
		d -= CounterModulus
	} else if d < -CounterModulus/2 {
		d += CounterModulus
	}
	return d
}

// Counter checks that x is channel's counter signal, bit-exact, and returns
// the start frame n0 (mod 2^23) read from the first sample. A *CounterError
// names the first bad index, the expected and received values and how many
// samples were bad.
func Counter[T float32 | float64](x []T, channel int) (start uint32, err error) {
	if len(x) == 0 {
		return 0, fmt.Errorf("analysis: counter channel %d: no samples", channel)
	}
	if channel < 0 {
		return 0, fmt.Errorf("analysis: counter channel %d: negative channel", channel)
	}
	k0, ok := counterIndex(float64(x[0]))
	if !ok {
		return 0, fmt.Errorf("analysis: counter channel %d: first sample %v is not a counter value k/2^23 with 0 <= k < 2^23", channel, x[0])
	}
	start = uint32((int64(k0) - int64(CounterChannelOffset)*int64(channel)) & (CounterModulus - 1))
	var e *CounterError
	k := k0
	prev := x[0]
	for i, v := range x {
		want := T(float64(k) / CounterModulus)
		if v != want {
			if e == nil {
				e = &CounterError{Channel: channel, Index: i, Want: float64(want), Got: float64(v)}
			}
			e.Bad++
		}
		if i > 0 {
			pk, pok := counterIndex(float64(prev))
			vk, vok := counterIndex(float64(v))
			if !pok || !vok || vk != (pk+1)&(CounterModulus-1) {
				if e == nil {
					// Unreachable: a jump implies a bad sample.
					e = &CounterError{Channel: channel, Index: i, Want: float64(want), Got: float64(v)}
				}
				e.Jumps++
			}
		}
		prev = v
		k = (k + 1) & (CounterModulus - 1)
	}
	if e != nil {
		e.Total = len(x)
		return start, e
	}
	return start, nil
}

// SkipZeros returns the index of the first sample of x that is not exactly
// zero: a recording started before the signal reached the port begins
// with silence, which must be cut before Counter or Glitches see it.
// It returns len(x) if x is all zeros.
func SkipZeros[T float32 | float64](x []T) int {
	for i, v := range x {
		if v != 0 {
			return i
		}
	}
	return len(x)
}
