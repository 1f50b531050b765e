package device

import (
	"encoding/binary"
	"math"
	"testing"
)

func TestConvertEdges(t *testing.T) {
	le16 := func(v int16) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	s24_3 := func(v int32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16)} }
	tests := []struct {
		name string
		f    SampleFormat
		raw  []byte
		want float32
	}{
		{"s16 +full", S16LE, le16(32767), 32767.0 / 32768},
		{"s16 -full", S16LE, le16(-32768), -1},
		{"s16 zero", S16LE, le16(0), 0},
		{"s16 +lsb", S16LE, le16(1), 1.0 / 32768},
		{"s16 -lsb", S16LE, le16(-1), -1.0 / 32768},
		{"s24_3 +full", S24_3LE, s24_3(0x7fffff), float32(0x7fffff) / (1 << 23)},
		{"s24_3 -full", S24_3LE, s24_3(-0x800000), -1},
		{"s24_3 zero", S24_3LE, s24_3(0), 0},
		{"s24_3 +lsb", S24_3LE, s24_3(1), 1.0 / (1 << 23)},
		{"s24_3 -lsb", S24_3LE, s24_3(-1), -1.0 / (1 << 23)},
		{"s24 +full", S24LE, le32(0x007fffff), float32(0x7fffff) / (1 << 23)},
		{"s24 -full", S24LE, le32(0x00800000), -1},
		{"s24 -full, junk pad", S24LE, le32(0xab800000), -1},
		{"s24 zero", S24LE, le32(0), 0},
		{"s24 +lsb", S24LE, le32(1), 1.0 / (1 << 23)},
		{"s24 -lsb", S24LE, le32(0x00ffffff), -1.0 / (1 << 23)},
		{"s32 +full", S32LE, le32(0x7fffffff), 1}, // rounds to 1.0 in float32: 31 bits do not fit 24
		{"s32 -full", S32LE, le32(0x80000000), -1},
		{"s32 zero", S32LE, le32(0), 0},
		{"s32 +lsb", S32LE, le32(1), 1.0 / (1 << 31)},
		{"s32 -lsb", S32LE, le32(0xffffffff), -1.0 / (1 << 31)},
		{"s32 24-bit value", S32LE, le32(0x12345600), float32(0x123456) / (1 << 23)},
		{"float +1", FloatLE, le32(math.Float32bits(1)), 1},
		{"float -1", FloatLE, le32(math.Float32bits(-1)), -1},
		{"float zero", FloatLE, le32(0), 0},
		{"float tiny", FloatLE, le32(1), math.Float32frombits(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := [][]float32{make([]float32, 1)}
			Convert(dst, tt.raw, tt.f, 1)
			if got := dst[0][0]; got != tt.want {
				t.Errorf("got %.10g (%#x), want %.10g", got, math.Float32bits(got), tt.want)
			}
		})
	}
}

// Every format must de-interleave in channel order and round-trip Encode
// exactly for values on its own grid.
func TestConvertRoundTripInterleaved(t *testing.T) {
	const ch, frames = 3, 17
	for _, f := range SampleFormats() {
		t.Run(f.String(), func(t *testing.T) {
			lsb := math.Ldexp(1, -(f.Bits() - 1))
			if f == FloatLE {
				lsb = math.Ldexp(1, -23)
			}
			raw := make([]byte, ch*frames*f.Bytes())
			want := make([][]float64, ch)
			for c := range ch {
				want[c] = make([]float64, frames)
				for n := range frames {
					v := float64((n*37+c*1001)%4001-2000) * lsb * 7
					want[c][n] = v
					Encode(raw[(n*ch+c)*f.Bytes():], f, v)
				}
			}
			dst := make([][]float32, ch)
			for c := range dst {
				dst[c] = make([]float32, frames)
			}
			Convert(dst, raw, f, frames)
			for c := range ch {
				for n := range frames {
					if float64(dst[c][n]) != want[c][n] {
						t.Fatalf("ch %d frame %d: got %g want %g", c, n, dst[c][n], want[c][n])
					}
				}
			}
		})
	}
}

func TestEncodeClamps(t *testing.T) {
	p := make([]byte, 4)
	Encode(p, S16LE, 2)
	if v := int16(binary.LittleEndian.Uint16(p)); v != 32767 {
		t.Errorf("S16 +2 clamped to %d", v)
	}
	Encode(p, S16LE, -2)
	if v := int16(binary.LittleEndian.Uint16(p)); v != -32768 {
		t.Errorf("S16 -2 clamped to %d", v)
	}
	Encode(p, S24LE, math.NaN())
	if v := binary.LittleEndian.Uint32(p); v != 0 {
		t.Errorf("S24 NaN encoded as %#x", v)
	}
}

func TestConvertAllocs(t *testing.T) {
	f := S24_3LE
	raw := make([]byte, 8*256*f.Bytes())
	dst := make([][]float32, 8)
	for c := range dst {
		dst[c] = make([]float32, 256)
	}
	if n := testing.AllocsPerRun(100, func() { Convert(dst, raw, f, 256) }); n != 0 {
		t.Errorf("Convert allocates %v times per call", n)
	}
}

func BenchmarkConvert(b *testing.B) {
	for _, f := range SampleFormats() {
		b.Run(f.String(), func(b *testing.B) {
			const ch, frames = 8, 256
			raw := make([]byte, ch*frames*f.Bytes())
			dst := make([][]float32, ch)
			for c := range dst {
				dst[c] = make([]float32, frames)
			}
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				Convert(dst, raw, f, frames)
			}
		})
	}
}
