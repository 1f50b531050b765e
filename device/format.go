package device

import (
	"errors"
	"fmt"
	"strings"
)

// SampleFormat is a native sample encoding as the hardware writes it.
type SampleFormat int

// The native formats sgbridge converts. Names follow ALSA's.
const (
	S16LE   SampleFormat = iota + 1 // signed 16 bit, little endian
	S24_3LE                         // signed 24 bit packed in 3 bytes
	S24LE                           // signed 24 bit in the low 3 bytes of 4
	S32LE                           // signed 32 bit
	FloatLE                         // IEEE 754 binary32
)

var formatNames = [...]string{
	S16LE:   "S16_LE",
	S24_3LE: "S24_3LE",
	S24LE:   "S24_LE",
	S32LE:   "S32_LE",
	FloatLE: "FLOAT_LE",
}

// String returns the ALSA name of f.
func (f SampleFormat) String() string {
	if f <= 0 || int(f) >= len(formatNames) {
		return fmt.Sprintf("SampleFormat(%d)", int(f))
	}
	return formatNames[f]
}

// Bytes is the storage size of one sample of f.
func (f SampleFormat) Bytes() int {
	switch f {
	case S16LE:
		return 2
	case S24_3LE:
		return 3
	case S24LE, S32LE, FloatLE:
		return 4
	}
	return 0
}

// Bits is the number of significant bits of f (24 for both 24-bit layouts).
func (f SampleFormat) Bits() int {
	switch f {
	case S16LE:
		return 16
	case S24_3LE, S24LE:
		return 24
	case S32LE, FloatLE:
		return 32
	}
	return 0
}

// SampleFormats lists every supported format, in a stable order.
func SampleFormats() []SampleFormat {
	return []SampleFormat{S16LE, S24_3LE, S24LE, S32LE, FloatLE}
}

// ParseSampleFormat accepts ALSA names case-insensitively, with or without
// the underscore before LE ("s24_3le", "S32LE", "float").
func ParseSampleFormat(s string) (SampleFormat, error) {
	norm := strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(s)), "_", "")
	switch norm {
	case "S16LE", "S16":
		return S16LE, nil
	case "S243LE", "S243":
		return S24_3LE, nil
	case "S24LE", "S24":
		return S24LE, nil
	case "S32LE", "S32":
		return S32LE, nil
	case "FLOATLE", "FLOAT", "F32LE", "F32", "FLOAT32":
		return FloatLE, nil
	}
	names := make([]string, 0, len(formatNames))
	for _, f := range SampleFormats() {
		names = append(names, f.String())
	}
	return 0, fmt.Errorf("unknown sample format %q (want one of %s)", s, strings.Join(names, ", "))
}

// Limits on a stream. MaxChannels matches the CLI contract (1..64).
const (
	MinChannels = 1
	MaxChannels = 64
	MinRate     = 8000
	MaxRate     = 768000
	MinPeriod   = 16
	MaxPeriod   = 1 << 16
	MinBuffers  = 2
	MaxBuffers  = 1024
)

// Format describes a capture stream: Buffers SG buffers of Period frames
// each, every frame Channels interleaved samples of Sample.
type Format struct {
	Rate     int          // frames per second, nominal
	Channels int          // interleaved channels per frame
	Sample   SampleFormat // native encoding
	Period   int          // frames per SG buffer (one interrupt each)
	Buffers  int          // SG buffers in the ring, completed round-robin
}

// FrameBytes is the size of one interleaved frame.
func (f Format) FrameBytes() int { return f.Channels * f.Sample.Bytes() }

// BufferBytes is the size of one SG buffer.
func (f Format) BufferBytes() int { return f.Period * f.FrameBytes() }

// String renders f the way log lines and errors show it.
func (f Format) String() string {
	return fmt.Sprintf("%d Hz, %d ch, %s, %d x %d frames", f.Rate, f.Channels, f.Sample, f.Buffers, f.Period)
}

// ErrFormat is wrapped by every error Validate returns.
var ErrFormat = errors.New("impossible format")

// Validate reports the first field of f that no device can have.
func (f Format) Validate() error {
	switch {
	case f.Rate < MinRate || f.Rate > MaxRate:
		return fmt.Errorf("%w: rate %d Hz is outside %d..%d", ErrFormat, f.Rate, MinRate, MaxRate)
	case f.Channels < MinChannels || f.Channels > MaxChannels:
		return fmt.Errorf("%w: %d channels is outside %d..%d", ErrFormat, f.Channels, MinChannels, MaxChannels)
	case f.Sample.Bytes() == 0:
		return fmt.Errorf("%w: unknown sample format %d", ErrFormat, int(f.Sample))
	case f.Period < MinPeriod || f.Period > MaxPeriod:
		return fmt.Errorf("%w: period %d frames is outside %d..%d", ErrFormat, f.Period, MinPeriod, MaxPeriod)
	case f.Buffers < MinBuffers || f.Buffers > MaxBuffers:
		return fmt.Errorf("%w: %d buffers is outside %d..%d", ErrFormat, f.Buffers, MinBuffers, MaxBuffers)
	}
	return nil
}
