package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sgbridge/sgbridge/bridge"
)

// TestPrintStatus: the text status says what a user needs to read off a
// drift-controlled bridge, the device clock's memory among it.
func TestPrintStatus(t *testing.T) {
	for _, tc := range []struct {
		long float64
		want string
	}{
		{1, "long memory (steady)"},
		{0, "short memory"},
		{0.57, "long memory at 57 %"},
	} {
		d := statusDoc{Name: "sgb", Device: "sim", Sink: "jack", Rate: 48000, Channels: 2, DevicePeriod: 256, GraphPeriod: 256, Uptime: 56,
			Stats: bridge.Stats{Running: true, Resample: true, Lock: "locked", RatioPPM: 0.211, LockedAt: 8, Arrivals: 1, LongMemory: tc.long, Latency: 606.8}}
		var b bytes.Buffer
		printStatus(&b, &d)
		out := b.String()
		for _, w := range []string{"drift control locked, running, up 56s", "+0.211 ppm", "lock       after 8.0 s", "followed on its " + tc.want + ", 100 % of its stamps arrivals", "606.8 frames (12.64 ms)"} {
			if !strings.Contains(out, w) {
				t.Errorf("long memory %.2f: status lacks %q:\n%s", tc.long, w, out)
			}
		}
	}
}
