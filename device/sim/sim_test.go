package sim

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/device"
)

func format(sample device.SampleFormat, ch, period int) device.Format {
	return device.Format{Rate: 48000, Channels: ch, Sample: sample, Period: period, Buffers: 8}
}

func newVirtual(t *testing.T, cfg Config) (*Grabber, *VirtualClock) {
	t.Helper()
	clk := &VirtualClock{T: 1e9}
	cfg.Clock = clk
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	return g, clk
}

func TestCounterBitExactAcrossBuffers(t *testing.T) {
	for _, sf := range []device.SampleFormat{device.S24_3LE, device.S24LE, device.S32LE, device.FloatLE} {
		t.Run(sf.String(), func(t *testing.T) {
			f := format(sf, 3, 64)
			g, _ := newVirtual(t, Config{Format: f, Signal: Counter})
			dst := make([][]float32, f.Channels)
			for c := range dst {
				dst[c] = make([]float32, f.Period)
			}
			for k := uint64(1); k <= 40; k++ { // five trips round the ring
				comp, err := g.Wait()
				if err != nil {
					t.Fatal(err)
				}
				if comp.Count != k {
					t.Fatalf("count %d, want %d", comp.Count, k)
				}
				device.Convert(dst, g.Buffer(int((k-1)%8)), sf, f.Period)
				for c := range f.Channels {
					for i, got := range dst[c] {
						n := (k-1)*uint64(f.Period) + uint64(i)
						if want := float32(CounterValue(n, c)) / (1 << 23); got != want {
							t.Fatalf("irq %d ch %d frame %d: got %v want %v", k, c, i, got, want)
						}
					}
				}
			}
		})
	}
}

func TestCounterNeeds24Bits(t *testing.T) {
	_, err := New(Config{Format: format(device.S16LE, 2, 64), Signal: Counter})
	if err == nil {
		t.Fatal("counter on S16_LE accepted")
	}
}

func TestSineValues(t *testing.T) {
	f := format(device.FloatLE, 4, 256)
	g, _ := newVirtual(t, Config{Format: f, Signal: Sine, Freq: 1000})
	for range 3 {
		if _, err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	dst := make([][]float32, 4)
	for c := range dst {
		dst[c] = make([]float32, 256)
	}
	device.Convert(dst, g.Buffer(2), f.Sample, 256)
	for c := range 4 {
		fc := 1000 * (1 + float64(c)/4)
		for i, got := range dst[c] {
			n := float64(2*256 + i)
			want := 0.5 * math.Sin(2*math.Pi*fc*n/48000)
			if math.Abs(float64(got)-want) > 1e-7 {
				t.Fatalf("ch %d frame %d: got %v want %v", c, i, got, want)
			}
		}
	}
}

// The phase must stay exact after days of frames.
func TestSinePhaseFarOut(t *testing.T) {
	f := format(device.FloatLE, 1, 256)
	gen, err := NewGenerator(Sine, f, 997.123)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4*16)
	first := uint64(48000) * 86400 * 3 // three days in
	gen.Fill(buf, first)
	dst := [][]float32{make([]float32, 16)}
	device.Convert(dst, buf, device.FloatLE, 16)
	for i, got := range dst[0] {
		// exact reference: cycles = 997.123·n/48000, reduced with integers
		n := first + uint64(i)
		num := (997123 * (n % 48000000)) % 48000000 // 997.123 = 997123/1000
		want := 0.5 * math.Sin(2*math.Pi*float64(num)/48000000)
		if math.Abs(float64(got)-want) > 1e-7 {
			t.Fatalf("frame %d: got %v want %v", n, got, want)
		}
	}
}

func TestClockOffset(t *testing.T) {
	for _, ppm := range []float64{-1000, 0, 200} {
		f := format(device.S32LE, 2, 256)
		g, _ := newVirtual(t, Config{Format: f, Signal: Silence, PPM: ppm})
		var first, last device.Completion
		for i := range 1000 {
			c, err := g.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = c
			}
			last = c
		}
		rate := float64(last.Count-first.Count) * 256 / (float64(last.Time-first.Time) / 1e9)
		if got := (rate/48000 - 1) * 1e6; math.Abs(got-ppm) > 0.01 {
			t.Errorf("device runs at %+.4f ppm, want %+g", got, ppm)
		}
	}
}

func TestLostInterruptsShowAsCountJumps(t *testing.T) {
	f := format(device.S32LE, 1, 64)
	g, _ := newVirtual(t, Config{Format: f, Signal: Counter, LoseIRQ: 0.1, Seed: 7})
	var prev uint64
	lost, waits := 0, 20000
	for range waits {
		c, err := g.Wait()
		if err != nil {
			t.Fatal(err)
		}
		lost += int(c.Count - prev - 1)
		prev = c.Count
	}
	frac := float64(lost) / float64(prev)
	if frac < 0.08 || frac > 0.12 {
		t.Errorf("lost %d of %d interrupts (%.3f), want about 0.1", lost, prev, frac)
	}
	// The newest buffers still carry the right frames after a jump.
	dst := [][]float32{make([]float32, 64)}
	device.Convert(dst, g.Buffer(int((prev-1)%8)), f.Sample, 64)
	if want := float32(CounterValue((prev-1)*64, 0)) / (1 << 23); dst[0][0] != want {
		t.Errorf("newest buffer starts with %v, want %v", dst[0][0], want)
	}
}

func TestStallHoldsInterrupts(t *testing.T) {
	f := format(device.S32LE, 1, 480) // 10 ms periods
	g, _ := newVirtual(t, Config{Format: f, Signal: Silence, Stall: 100 * time.Millisecond, StallEvery: time.Second})
	var prev device.Completion
	jumps := 0
	for prev.Count < 450 { // 4.5 s: four stalls
		c, err := g.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if d := c.Count - prev.Count; d > 1 {
			jumps++
			if d < 9 || d > 11 {
				t.Errorf("stall released %d interrupts at once, want about 10", d)
			}
		}
		prev = c
	}
	if jumps != 4 {
		t.Errorf("%d stalls seen, want 4", jumps)
	}
}

func TestJitterBoundedAndMonotonic(t *testing.T) {
	f := format(device.S32LE, 1, 256)
	g, _ := newVirtual(t, Config{Format: f, Signal: Silence, Jitter: time.Millisecond, Seed: 3})
	var prev int64
	maxLate := int64(0)
	for range 5000 {
		c, err := g.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if c.Time < prev {
			t.Fatalf("time went backwards: %d < %d", c.Time, prev)
		}
		late := c.Time - g.due(c.Count)
		if late < 0 || late > int64(time.Millisecond) {
			t.Fatalf("interrupt %d seen %d ns after due", c.Count, late)
		}
		maxLate = max(maxLate, late)
		prev = c.Time
	}
	if maxLate < int64(900*time.Microsecond) {
		t.Errorf("jitter never reached 0.9 ms (max %d ns)", maxLate)
	}
}

func TestRealClockWaitAndStop(t *testing.T) {
	f := format(device.S32LE, 2, 64) // 1.33 ms periods
	g, err := New(Config{Format: f, Signal: Counter})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	clk := RealClock{}
	for range 10 {
		c, err := g.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if now := clk.Now(); now < c.Time {
			t.Fatalf("Wait returned %d ns before the interrupt time", c.Time-now)
		}
	}
	g.Stop()
	if _, err := g.Wait(); !errors.Is(err, device.ErrStopped) {
		t.Fatalf("Wait after Stop = %v", err)
	}
}

func TestViews(t *testing.T) {
	// 256 frames x 8 ch x 4 bytes = 8 KiB: page multiple, virtual map.
	g, _ := newVirtual(t, Config{Format: format(device.S32LE, 8, 256), Signal: Silence})
	if g.View().Linear() == nil {
		t.Error("page-multiple buffers did not get the virtual map")
	}
	// 256 x 2 x 3 bytes is not: slice list.
	g2, _ := newVirtual(t, Config{Format: format(device.S24_3LE, 2, 256), Signal: Silence})
	if g2.View().Linear() != nil {
		t.Error("odd-sized buffers claimed a virtual map")
	}
}

func TestConfigErrors(t *testing.T) {
	ok := format(device.S32LE, 2, 256)
	bad := map[string]Config{
		"ppm":      {Format: ok, PPM: math.NaN()},
		"lose":     {Format: ok, LoseIRQ: 1},
		"stall":    {Format: ok, Stall: time.Second, StallEvery: time.Second},
		"nyquist":  {Format: ok, Signal: Sine, Freq: 20000},
		"channels": {Format: format(device.S32LE, 0, 256)},
	}
	for name, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestWaitAllocatesNothing(t *testing.T) {
	f := format(device.S32LE, 8, 256)
	g, _ := newVirtual(t, Config{Format: f, Signal: Sine, Jitter: time.Millisecond, LoseIRQ: 0.01})
	if n := testing.AllocsPerRun(1000, func() { g.Wait() }); n != 0 {
		t.Errorf("Wait allocates %v times per call", n)
	}
}
