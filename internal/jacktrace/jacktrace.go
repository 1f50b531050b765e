package jacktrace

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
)

// Wakeups is a server's cycles as its client saw them wake up.
type Wakeups struct {
	// Late is each cycle's wake-up latency, s: how far it came after the
	// nominal line through the trace, less the least of them (so the
	// earliest is 0). The line is nominal because the traces are of
	// jackd's dummy driver, which schedules its cycles at fixed offsets
	// from its first on the system clock (JackTimedDriver): its frame
	// clock is CLOCK_MONOTONIC exactly, and everything off that line is
	// the wake-up's lateness.
	Late []float64
	// Frames is the graph's frame count at the first cycle: the server's
	// age when the trace began, in frames.
	Frames uint64
}

// Load reads a gzipped trace of period-frame cycles at rate: a first
// line as scripts/jackclock/client prints it (wake_ns frames cycle_us),
// then each later wake-up's ns after the one before.
func Load(path string, rate float64, period int) (Wakeups, error) {
	f, err := os.Open(path)
	if err != nil {
		return Wakeups{}, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return Wakeups{}, fmt.Errorf("%s: %w", path, err)
	}
	w, err := Read(z, rate, period)
	if err != nil {
		return Wakeups{}, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// Read reads a trace as Load does, uncompressed.
func Read(r io.Reader, rate float64, period int) (Wakeups, error) {
	if !(rate > 0) || period <= 0 {
		return Wakeups{}, fmt.Errorf("rate %g, period %d: want both positive", rate, period)
	}
	var (
		tr   Wakeups
		t    int64 // ns since the first wake-up
		lo   = math.Inf(1)
		sc   = bufio.NewScanner(r)
		line int
	)
	for sc.Scan() {
		line++
		if line == 1 {
			var w0, c0 int64
			if _, err := fmt.Sscan(sc.Text(), &w0, &tr.Frames, &c0); err != nil {
				return Wakeups{}, fmt.Errorf("line 1: %q: want wake_ns frames cycle_us", sc.Text())
			}
		} else {
			d, err := strconv.ParseInt(sc.Text(), 10, 64)
			if err != nil || d <= 0 {
				return Wakeups{}, fmt.Errorf("line %d: %q: want the ns since the last wake-up", line, sc.Text())
			}
			t += d
		}
		l := float64(t)*1e-9 - float64((line-1)*period)/rate
		tr.Late = append(tr.Late, l)
		lo = math.Min(lo, l)
	}
	if err := sc.Err(); err != nil {
		return Wakeups{}, err
	}
	if line < 2 {
		return Wakeups{}, fmt.Errorf("%d lines: not a trace", line)
	}
	for i := range tr.Late {
		tr.Late[i] -= lo
	}
	return tr, nil
}
