package device

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Scale factors: an N-bit signed integer v becomes v / 2^(N-1), so full
// scale negative is exactly -1.0, zero is 0 and one LSB is 2^-(N-1). Every
// 16- and 24-bit value is exact in float32; 32-bit values round to 24 bits
// of mantissa, which is the best float32 can do.
const (
	scale16 = 1.0 / (1 << 15)
	scale24 = 1.0 / (1 << 23)
	scale32 = 1.0 / (1 << 31)
)

// Convert de-interleaves frames of native samples from src into dst, one
// float32 slice per channel, writing dst[c][0:frames]. src must hold at
// least frames whole frames of format f with len(dst) channels, and every
// dst[c] at least frames samples. It allocates nothing, so the IRQ loop may
// call it once per period.
func Convert(dst [][]float32, src []byte, f SampleFormat, frames int) {
	ch := len(dst)
	switch f {
	case S16LE:
		for n := range frames {
			p := src[n*ch*2:]
			for c := range ch {
				dst[c][n] = float32(int16(binary.LittleEndian.Uint16(p[2*c:]))) * scale16
			}
		}
	case S24_3LE:
		for n := range frames {
			p := src[n*ch*3:]
			for c := range ch {
				q := p[3*c : 3*c+3]
				v := int32(uint32(q[0])<<8|uint32(q[1])<<16|uint32(q[2])<<24) >> 8
				dst[c][n] = float32(v) * scale24
			}
		}
	case S24LE:
		for n := range frames {
			p := src[n*ch*4:]
			for c := range ch {
				// The top byte is padding: sign-extend from bit 23.
				v := int32(binary.LittleEndian.Uint32(p[4*c:])<<8) >> 8
				dst[c][n] = float32(v) * scale24
			}
		}
	case S32LE:
		for n := range frames {
			p := src[n*ch*4:]
			for c := range ch {
				dst[c][n] = float32(float64(int32(binary.LittleEndian.Uint32(p[4*c:]))) * scale32)
			}
		}
	case FloatLE:
		for n := range frames {
			p := src[n*ch*4:]
			for c := range ch {
				dst[c][n] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*c:]))
			}
		}
	default:
		panic(fmt.Sprintf("device.Convert: %v", f)) // Format.Validate rejects it first
	}
}

// Encode is Convert's inverse for one sample: it writes v (clamped to
// [-1, 1 - 1 LSB]) at p in format f, rounding to nearest. Simulators and
// emulators use it to fill SG buffers the way hardware would.
func Encode(p []byte, f SampleFormat, v float64) {
	switch f {
	case S16LE:
		binary.LittleEndian.PutUint16(p, uint16(quantize(v, 15)))
	case S24_3LE:
		q := quantize(v, 23)
		p[0], p[1], p[2] = byte(q), byte(q>>8), byte(q>>16)
	case S24LE:
		binary.LittleEndian.PutUint32(p, uint32(quantize(v, 23))&0x00ffffff)
	case S32LE:
		binary.LittleEndian.PutUint32(p, uint32(quantize(v, 31)))
	case FloatLE:
		binary.LittleEndian.PutUint32(p, math.Float32bits(float32(v)))
	default:
		panic(fmt.Sprintf("device.Encode: %v", f))
	}
}

// quantize maps v to a signed integer of bits+1 bits, clamped.
func quantize(v float64, bits uint) int32 {
	full := float64(int64(1) << bits)
	x := math.Round(v * full)
	switch {
	case x >= full:
		x = full - 1
	case x < -full:
		x = -full
	case x != x: // NaN
		x = 0
	}
	return int32(x)
}
