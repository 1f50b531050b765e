package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sgbridge/sgbridge/bridge"
	"github.com/sgbridge/sgbridge/internal/status"
)

// statusDoc is what a running bridge serves on its status socket.
type statusDoc struct {
	Name         string  `json:"name"`
	Device       string  `json:"device"`
	Sink         string  `json:"sink"`
	Rate         int     `json:"rate"`
	Channels     int     `json:"channels"`
	DevicePeriod int     `json:"device_period"`
	GraphPeriod  int     `json:"graph_period"`
	Uptime       float64 `json:"uptime_s"`
	bridge.Stats
}

func newStatusCmd() *cobra.Command {
	var (
		name   string
		asJSON bool
		watch  bool
		every  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a running bridge's lock state, queue, latency and error counters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				running := status.Running()
				switch len(running) {
				case 0:
					return fmt.Errorf("no sgbridge is running (no socket in %s)", status.Dir())
				case 1:
					name = running[0]
				default:
					return usageError("several bridges are running (%s): pick one with --name", strings.Join(running, ", "))
				}
			}
			path := status.Path(name)
			out := cmd.OutOrStdout()
			if !watch {
				var d statusDoc
				if asJSON {
					var raw json.RawMessage
					if err := status.Read(path, &raw); err != nil {
						return err
					}
					_, err := fmt.Fprintf(out, "%s\n", raw)
					return err
				}
				if err := status.Read(path, &d); err != nil {
					return err
				}
				printStatus(out, &d)
				return nil
			}
			return watchStatus(out, path, every, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "the bridge's --name (default: the only one running)")
	f.BoolVar(&asJSON, "json", false, "print the raw JSON document")
	f.BoolVar(&watch, "watch", false, "redraw every --every until interrupted, with a short history")
	f.DurationVar(&every, "every", 500*time.Millisecond, "refresh interval for --watch")
	return cmd
}

func printStatus(w io.Writer, d *statusDoc) {
	state := "starting"
	if d.Running {
		state = "running"
	}
	mode := "bit-exact pass-through"
	if d.Resample {
		mode = fmt.Sprintf("drift control %s", d.Lock)
	}
	fmt.Fprintf(w, "%s: %s -> %s, %d Hz, %d ch, periods %d/%d, %s, %s, up %s\n",
		d.Name, d.Device, d.Sink, d.Rate, d.Channels, d.DevicePeriod, d.GraphPeriod, mode, state,
		(time.Duration(d.Uptime) * time.Second).String())
	if d.Resample {
		fmt.Fprintf(w, "  ratio      %+.3f ppm (device %+.3f ppm, graph %+.3f ppm vs CLOCK_MONOTONIC), error %+.2f frames\n",
			d.RatioPPM, d.DevicePPM, d.GraphPPM, d.Error)
		lock := "not yet"
		if d.LockedAt > 0 {
			lock = fmt.Sprintf("after %.1f s", d.LockedAt)
		}
		fmt.Fprintf(w, "  lock       %s, %d alignments, %d resyncs (%d graph cycles skipped), resampler delay %.1f frames\n",
			lock, d.Alignments, d.Resyncs, d.SkippedCycles, d.Delay)
		fmt.Fprintf(w, "  clock      device followed on its %s, %.0f %% of its stamps arrivals\n",
			memory(d.LongMemory), d.Arrivals*100)
	}
	fmt.Fprintf(w, "  queue      %d frames (start fill %d, capacity %d)\n", d.Fill, d.Target, d.Capacity)
	if d.Latency != 0 {
		fmt.Fprintf(w, "  latency    %.1f frames (%.2f ms), margin %d frames (raised %d times by stalls)\n",
			d.Latency, d.Latency/float64(d.Rate)*1e3, d.Margin, d.MarginRaises)
	} else {
		fmt.Fprintf(w, "  latency    not measured yet\n")
	}
	fmt.Fprintf(w, "  underruns  %d (%d frames)   xruns %d   overflows %d frames\n", d.UnderrunEvents, d.UnderrunFrames, d.Xruns, d.Overflows)
	fmt.Fprintf(w, "  device     %d interrupts, %d lost, %d frames lost, returned %d times, worst stall %.2f ms (%.1f s after start)\n",
		d.Interrupts, d.LostIRQs, d.LostFrames, d.DeviceReturns, d.WorstStall*1e3, d.WorstStallAt)
}

// memory says which of the device clock's filters the ratio follows
// (drift.Stats.LongMemory).
func memory(long float64) string {
	switch {
	case long >= 0.995:
		return "long memory (steady)"
	case long <= 0.005:
		return "short memory"
	}
	return fmt.Sprintf("long memory at %.0f %%", long*100)
}

// watchStatus redraws in place with sparklines of the ratio and the
// queue fill over the last minute or so.
func watchStatus(w io.Writer, path string, every time.Duration, asJSON bool) error {
	const histLen = 60
	var fill, ppm []float64
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		var d statusDoc
		if err := status.Read(path, &d); err != nil {
			return err
		}
		if asJSON {
			b, _ := json.Marshal(&d)
			fmt.Fprintf(w, "%s\n", b)
		} else {
			fill = appendHist(fill, float64(d.Fill), histLen)
			ppm = appendHist(ppm, d.RatioPPM, histLen)
			fmt.Fprint(w, "\x1b[H\x1b[2J")
			printStatus(w, &d)
			if d.Resample {
				fmt.Fprintf(w, "  ppm        %s\n", sparkline(ppm))
			}
			fmt.Fprintf(w, "  fill       %s\n", sparkline(fill))
		}
		if f, ok := w.(*os.File); ok {
			f.Sync()
		}
		<-tick.C
	}
}

func appendHist(h []float64, v float64, n int) []float64 {
	h = append(h, v)
	if len(h) > n {
		h = h[1:]
	}
	return h
}

// sparkline draws v scaled between its min and max.
func sparkline(v []float64) string {
	const bars = "▁▂▃▄▅▆▇█"
	runes := []rune(bars)
	if len(v) == 0 {
		return ""
	}
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	var b strings.Builder
	for _, x := range v {
		i := 0
		if hi > lo {
			i = int((x - lo) / (hi - lo) * float64(len(runes)-1))
		}
		b.WriteRune(runes[i])
	}
	return fmt.Sprintf("%s  [%g..%g]", b.String(), lo, hi)
}
