// Command jackclock reads what scripts/jackclock/client/client.c printed (a line
// per JACK cycle: wake_ns frames cycle_us) and prints, for windows of the
// server's life, the rate of its frame clock against CLOCK_MONOTONIC (the
// clients' wake-ups) and against the server's own published cycle times,
// as least-squares slopes in ppm off the nominal rate. A graph whose
// frame clock is a crystal shows the same few hundredths of a ppm in
// every window; one that wanders shows it in both columns alike.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
)

type sample struct{ u, wake, cycle float64 } // s of frames, s past the first sample minus u

func main() {
	rate := flag.Float64("rate", 48000, "nominal graph rate, Hz")
	flag.Parse()
	s, err := read(os.Stdin, *rate)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("window (s of frames)   cycle times   wake-ups   (ppm off nominal)")
	for _, w := range [][2]float64{{2.5, 10}, {2.5, 20}, {2.5, 45}, {5, 15}, {10, 20}, {20, 30}, {30, 40}, {10, 40}} {
		c, k, n := slopes(s, w[0], w[1])
		if n < 100 {
			continue
		}
		fmt.Printf("%5.1f-%5.1f            %+9.3f   %+9.3f\n", w[0], w[1], c*1e6, k*1e6)
	}
}

func read(r io.Reader, rate float64) ([]sample, error) {
	var out []sample
	var w0, c0 int64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var w, c int64
		var f uint32
		if _, err := fmt.Sscan(sc.Text(), &w, &f, &c); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(out)+1, err)
		}
		if len(out) == 0 {
			w0, c0 = w, c
		}
		u := float64(f) / rate
		out = append(out, sample{u, float64(w-w0)*1e-9 - u, float64(c-c0)*1e-6 - u})
	}
	return out, sc.Err()
}

// slopes fits both times against u over [from, to) s of server life.
func slopes(s []sample, from, to float64) (cycle, wake float64, n int) {
	var su, sw, sc, suu, suw, suc float64
	for _, x := range s {
		if x.u < from || x.u >= to {
			continue
		}
		n++
		su, sw, sc = su+x.u, sw+x.wake, sc+x.cycle
		suu, suw, suc = suu+x.u*x.u, suw+x.u*x.wake, suc+x.u*x.cycle
	}
	d := float64(n)*suu - su*su
	return (float64(n)*suc - su*sc) / d, (float64(n)*suw - su*sw) / d, n
}
