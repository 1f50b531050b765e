package resample

import (
	"fmt"
	"strings"
)

// Quality selects a filter preset.
type Quality int

const (
	// Default is 64 taps, 2000 phases, 140 dB stop band: transparent to
	// 20 kHz at 48 kHz (THD+N <= -125 dB there) at drift-compensation ratios.
	// It is the zero value.
	Default Quality = iota
	// Fast is 32 taps, 1024 phases, 100 dB stop band: for monitoring paths
	// and low-end CPUs.
	Fast
	// Best is 80 taps, 1600 phases, 150 dB stop band and a wider pass band.
	Best
)

// High is an alias of Default.
const High = Default

// preset is the design input of a Quality.
type preset struct {
	taps   int     // filter length at ratio >= 1, a multiple of 8
	phases int     // phases per input sample before the table budget applies
	atten  float64 // stop-band attenuation in dB (sets Kaiser β)
}

var presets = [...]preset{
	Fast:    {taps: 32, phases: 1024, atten: 100},
	Default: {taps: 64, phases: 2000, atten: 140},
	Best:    {taps: 80, phases: 1600, atten: 150},
}

func (q Quality) String() string {
	switch q {
	case Fast:
		return "fast"
	case Default:
		return "default"
	case Best:
		return "best"
	}
	return fmt.Sprintf("Quality(%d)", int(q))
}

func (q Quality) valid() bool { return q >= Default && q <= Best }

// ParseQuality maps a preset name ("fast", "default", "high", "best", any
// case) to its Quality.
func ParseQuality(s string) (Quality, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "fast", "low":
		return Fast, nil
	case "default", "high", "":
		return Default, nil
	case "best", "max":
		return Best, nil
	}
	return 0, fmt.Errorf("unknown resampler quality %q (want fast, default, high or best)", s)
}
