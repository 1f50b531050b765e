package ring_test

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/bridge/ring"
	"github.com/sgbridge/sgbridge/bridge/ring/internal/ringtest"
)

func TestLayoutMatchesC(t *testing.T) {
	goFields := ring.GoLayout()
	cFields := ringtest.Layout()
	if len(cFields) != len(goFields) {
		t.Errorf("C lists %d fields, Go mirror %d", len(cFields), len(goFields))
	}
	for _, f := range cFields {
		g, ok := goFields[f.Name]
		if !ok {
			t.Errorf("C field %s has no Go mirror", f.Name)
			continue
		}
		if g[0] != f.Off || g[1] != f.Size {
			t.Errorf("%s: Go offset %d size %d, C offset %d size %d", f.Name, g[0], g[1], f.Off, f.Size)
		}
	}
	// The header Go writes must be one C accepts: same magic and version.
	r, err := ring.New(2, 256)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !ringtest.Valid(r) {
		t.Error("sgb_ring_valid rejects the header ring.New wrote (magic or version differ between Go and C)")
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		channels, frames, capacity int
		ok                         bool
	}{
		{1, 1, 1, true},
		{2, 3, 4, true},
		{8, 256, 256, true},
		{8, 1000, 1024, true},
		{64, 4097, 8192, true},
		{0, 256, 0, false},
		{ring.MaxChannels + 1, 256, 0, false},
		{2, 0, 0, false},
		{2, ring.MaxCapacity + 1, 0, false},
	} {
		r, err := ring.New(tc.channels, tc.frames)
		if !tc.ok {
			if err == nil {
				r.Close()
				t.Errorf("ring.New(%d, %d) succeeded, want an error", tc.channels, tc.frames)
			}
			continue
		}
		if err != nil {
			t.Errorf("ring.New(%d, %d): %v", tc.channels, tc.frames, err)
			continue
		}
		if r.Capacity() != tc.capacity || r.Channels() != tc.channels {
			t.Errorf("ring.New(%d, %d): %d channels, capacity %d; want capacity %d",
				tc.channels, tc.frames, r.Channels(), r.Capacity(), tc.capacity)
		}
		if uintptr(r.Header())%64 != 0 {
			t.Errorf("header at %p not cache-line aligned", r.Header())
		}
		for c := range r.Channels() {
			if r.ChannelAddr(c)%ring.LineSize != 0 {
				t.Errorf("channel %d region not on a %d byte line", c, ring.LineSize)
			}
		}
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	}
	r, err := ring.New(2, 1024)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ring memory locked: %v", r.Locked())
	r.Close()
	if err := r.Close(); err == nil {
		t.Error("second Close succeeded")
	}
}

// consumer abstracts the C consumer and its Go twin so each behaviour is
// tested against both.
type consumer interface {
	read(n int) int
	out(c int) []float32
	restart()
	close()
}

type cConsumer struct{ *ringtest.Reader }

func (c cConsumer) read(n int) int       { return c.Read(n) }
func (c cConsumer) out(ch int) []float32 { return c.Out(ch) }
func (c cConsumer) close()               { c.Close() }
func (c cConsumer) restart()             { c.Restart() }

type goConsumer struct {
	r   *ring.Ring
	dst [][]float32
}

func (g *goConsumer) read(n int) int      { return g.r.Read(g.dst, n) }
func (g *goConsumer) out(c int) []float32 { return g.dst[c] }
func (g *goConsumer) close()              {}
func (g *goConsumer) restart()            { g.r.Restart() }

var consumers = []struct {
	name string
	new  func(r *ring.Ring, max int) consumer
}{
	{"C", func(r *ring.Ring, max int) consumer {
		return cConsumer{ringtest.NewReader(r, max)}
	}},
	{"Go", func(r *ring.Ring, max int) consumer {
		g := &goConsumer{r: r, dst: make([][]float32, r.Channels())}
		for c := range g.dst {
			g.dst[c] = make([]float32, max)
		}
		return g
	}},
}

// counterBlock fills planar with the counter signal from frame pos on.
func counterBlock(planar [][]float32, pos uint64, n int) {
	for c := range planar {
		for i := range n {
			planar[c][i] = ringtest.Counter(pos+uint64(i), c)
		}
	}
}

func newPlanar(channels, frames int) [][]float32 {
	p := make([][]float32, channels)
	for c := range p {
		p[c] = make([]float32, frames)
	}
	return p
}

func TestWrapAround(t *testing.T) {
	for _, cons := range consumers {
		t.Run(cons.name, func(t *testing.T) {
			const chans, capacity = 3, 16
			r, err := ring.New(chans, capacity)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			c := cons.new(r, capacity)
			defer c.close()
			src := newPlanar(chans, capacity)
			var wpos, rpos uint64
			// Block sizes chosen to land writes and reads on every offset
			// and to split both across the end of the ring.
			for i, step := range []struct{ w, r int }{
				{5, 3}, {11, 7}, {7, 13}, {16, 0}, {0, 16}, {9, 9}, {13, 13}, {15, 1}, {1, 15}, {3, 3},
			} {
				if step.w > 0 {
					counterBlock(src, wpos, step.w)
					if got := r.Write(src, step.w); got != step.w {
						t.Fatalf("step %d: Write(%d) = %d, fill %d", i, step.w, got, r.Fill())
					}
					wpos += uint64(step.w)
				}
				if step.r > 0 {
					if got := c.read(step.r); got != step.r {
						t.Fatalf("step %d: read(%d) = %d", i, step.r, got)
					}
					for ch := range chans {
						for k := range step.r {
							if want := ringtest.Counter(rpos+uint64(k), ch); c.out(ch)[k] != want {
								t.Fatalf("step %d: channel %d frame %d = %v, want %v",
									i, ch, rpos+uint64(k), c.out(ch)[k], want)
							}
						}
					}
					rpos += uint64(step.r)
				}
				if r.Written() != wpos || r.ReadPos() != rpos || r.Fill() != int(wpos-rpos) {
					t.Fatalf("step %d: written %d read %d fill %d; want %d %d",
						i, r.Written(), r.ReadPos(), r.Fill(), wpos, rpos)
				}
			}
			if s := r.Stats(); s.UnderrunEvents != 0 {
				t.Errorf("underruns %+v on a ring that never ran short", s)
			}
		})
	}
}

func TestWriteShortWhenFull(t *testing.T) {
	r, err := ring.New(2, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src := newPlanar(2, 100)
	if n := r.Write(src, 100); n != 64 {
		t.Errorf("Write(100) into 64 free = %d", n)
	}
	if n := r.Write(src, 1); n != 0 || r.Free() != 0 {
		t.Errorf("Write into a full ring = %d, free %d", n, r.Free())
	}
	if n := r.WriteSilence(5); n != 0 {
		t.Errorf("WriteSilence into a full ring = %d", n)
	}
	if n := r.Write(src, 0); n != 0 {
		t.Errorf("Write(0) = %d", n)
	}
}

func TestStartThresholdAndUnderruns(t *testing.T) {
	for _, cons := range consumers {
		t.Run(cons.name, func(t *testing.T) {
			const nframes = 128
			r, err := ring.New(2, 1024)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			c := cons.new(r, nframes)
			defer c.close()
			src := newPlanar(2, 1024)
			for i := range src[0] {
				src[0][i], src[1][i] = 1, -1
			}
			mark := func() { // poison the outputs so silence must be written
				for ch := range 2 {
					for i := range c.out(ch) {
						c.out(ch)[i] = 42
					}
				}
			}
			type step struct {
				write, read int // frames to write, then frames to read
				got         int // frames read
				running     bool
				events      uint64
				frames      uint64
			}
			r.SetStartFill(300)
			for i, s := range []step{
				{write: 0, read: nframes, got: 0},
				{write: 200, read: nframes, got: 0}, // pre-fill: silence, not counted
				{write: 99, read: nframes, got: 0},
				{write: 1, read: nframes, got: nframes, running: true}, // fill 300 reached
				{write: 0, read: nframes, got: nframes, running: true},
				{write: 0, read: nframes, got: 44, running: true, events: 1, frames: 84},
				{write: 0, read: nframes, got: 0, running: true, events: 2, frames: 84 + nframes},
				{write: 10, read: nframes, got: 10, running: true, events: 3, frames: 84 + nframes + 118},
				{write: 500, read: nframes, got: nframes, running: true, events: 3, frames: 84 + nframes + 118},
			} {
				r.Write(src, s.write)
				mark()
				got := c.read(s.read)
				if got != s.got {
					t.Fatalf("step %d: read %d, want %d", i, got, s.got)
				}
				for ch, v := range []float32{1, -1} {
					for k, x := range c.out(ch)[:s.read] {
						want := v
						if k >= got {
							want = 0
						}
						if x != want {
							t.Fatalf("step %d: channel %d frame %d = %v, want %v", i, ch, k, x, want)
						}
					}
				}
				st := r.Stats()
				if r.Running() != s.running || st.UnderrunEvents != s.events || st.UnderrunFrames != s.frames {
					t.Fatalf("step %d: running %v stats %+v; want running %v events %d frames %d",
						i, r.Running(), st, s.running, s.events, s.frames)
				}
				if st.Reads != uint64(i+1) {
					t.Fatalf("step %d: %d reads counted", i, st.Reads)
				}
			}
		})
	}
}

// A start fill larger than one cycle must not leave the consumer stuck
// behind a cached head that already covered nframes.
func TestStartFillAboveCycle(t *testing.T) {
	for _, cons := range consumers {
		t.Run(cons.name, func(t *testing.T) {
			r, err := ring.New(1, 4096)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			c := cons.new(r, 256)
			defer c.close()
			r.SetStartFill(1000)
			r.WriteSilence(600)
			if c.read(256) != 0 {
				t.Fatal("started below the start fill")
			}
			r.WriteSilence(400)
			if n := c.read(256); n != 256 || !r.Running() {
				t.Fatalf("read %d running %v after fill reached 1000", n, r.Running())
			}
		})
	}
}

func TestTimingRoundTrip(t *testing.T) {
	r, err := ring.New(1, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.Timing(); ok {
		t.Fatal("Timing ok before any cycle")
	}
	r.WriteSilence(300)
	c := ringtest.NewReader(r, 256)
	defer c.Close()
	c.Read(256)
	ringtest.Publish(r, 1_000_000, 6_333_333, 5_333_333.25, 1<<40, 256, 48000, 1_000_042)
	c.Read(256)
	want := ring.Timing{CycleStart: 1_000_000, NextStart: 6_333_333, Period: 5_333_333.25,
		Frames: 1 << 40, NFrames: 256, Rate: 48000, ReadPos: 256, Cycle: 1, Wake: 1_000_042}
	if got, ok := r.Timing(); !ok || got != want {
		t.Errorf("C publish: Timing() = %+v, %v; want %+v", got, ok, want)
	}
	// The second read found 44 frames: 212 of silence, which the next
	// publish carries (and which the caller cannot set).
	want = ring.Timing{CycleStart: 7, NextStart: 8, Period: 9, Frames: 10, NFrames: 11, Rate: 12, ReadPos: 300, Cycle: 2,
		UnderrunFrames: 212, Wake: 13}
	r.PublishTiming(ring.Timing{CycleStart: 7, NextStart: 8, Period: 9, Frames: 10, NFrames: 11, Rate: 12, ReadPos: 999, Cycle: 999,
		UnderrunFrames: 999, Wake: 13})
	if got, ok := r.Timing(); !ok || got != want {
		t.Errorf("Go publish: Timing() = %+v, %v; want %+v", got, ok, want)
	}
	ringtest.Publish(r, 1, 2, 3, 4, 256, 48000, 0)
	if got, ok := r.Timing(); !ok || got.UnderrunFrames != 212 || got.Cycle != 3 {
		t.Errorf("C publish after an underrun: Timing() = %+v, %v; want 212 underrun frames, cycle 3", got, ok)
	}
}

func TestTimingSeqlockConsistent(t *testing.T) {
	r, err := ring.New(1, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := ringtest.StartPublisher(r)
	if err != nil {
		t.Fatal(err)
	}
	var reads, misses int
	var last uint64
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) || reads < 1000 {
		tm, ok := r.Timing()
		if !ok {
			misses++
			continue
		}
		reads++
		k := tm.Cycle
		if tm.CycleStart != int64(k)*1000 || tm.NextStart != int64(k)*1000+500 ||
			tm.Period != float64(k)*0.5 || tm.Frames != k*256 ||
			tm.NFrames != uint32(k) || tm.Rate != uint32(k*3) || tm.Wake != int64(k)*1000+7 {
			p.Stop()
			t.Fatalf("torn snapshot: %+v", tm)
		}
		if k < last {
			p.Stop()
			t.Fatalf("cycle went back from %d to %d", last, k)
		}
		last = k
	}
	n := p.Stop()
	t.Logf("%d consistent snapshots of %d published cycles, %d retries exhausted", reads, n, misses)
	if last == 0 || n < 2 {
		t.Fatal("publisher never ran")
	}
}

// The required one: a pthread consumer checks the counter signal over
// millions of frames while Go writes in random block sizes.
func TestCConsumerCounterContinuity(t *testing.T) {
	total := uint64(1 << 23)
	if testing.Short() {
		total = 1 << 20
	}
	for _, tc := range []struct {
		channels, capacity, nframes, maxBlock int
	}{
		{2, 1024, 256, 700},
		{8, 4096, 64, 3000},
		{1, 64, 17, 50}, // tiny ring: constant wrap and contention
	} {
		r, err := ring.New(tc.channels, tc.capacity)
		if err != nil {
			t.Fatal(err)
		}
		ck, err := ringtest.StartChecker(r, tc.nframes, total, true)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(tc.capacity), 1))
		src := newPlanar(tc.channels, tc.maxBlock)
		var pos uint64
		var fullSpins int
		for !ck.Done() {
			n := 1 + rng.IntN(tc.maxBlock)
			counterBlock(src, pos, n)
			for off := 0; off < n; {
				w := r.Write(shift(src, off), n-off)
				off += w
				if w == 0 {
					if ck.Done() {
						break
					}
					fullSpins++
					runtime.Gosched()
				}
			}
			pos += uint64(n)
		}
		res := ck.Stop()
		st := r.Stats()
		t.Logf("%d ch, capacity %d, %d-frame reads: %d frames checked in %d reads (%d empty, %d underruns), %d full spins",
			tc.channels, tc.capacity, tc.nframes, res.Frames, res.Cycles, res.EmptyCycles, st.UnderrunEvents, fullSpins)
		if res.Errors != 0 {
			t.Errorf("%d ch: %d wrong samples, first at frame %d", tc.channels, res.Errors, res.FirstError)
		}
		if res.Frames < total || r.ReadPos() != res.Frames {
			t.Errorf("%d ch: checked %d frames, ring read position %d, want >= %d", tc.channels, res.Frames, r.ReadPos(), total)
		}
		r.Close()
	}
}

// shift returns planar advanced by off frames; it reuses a fixed array so
// the producer loop stays allocation free for up to 8 channels.
func shift(planar [][]float32, off int) [][]float32 {
	var buf [8][]float32
	s := buf[:len(planar)]
	for c := range planar {
		s[c] = planar[c][off:]
	}
	return s
}

func TestZeroAllocs(t *testing.T) {
	r, err := ring.New(8, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src := newPlanar(8, 300)
	dst := newPlanar(8, 300)
	r.PublishTiming(ring.Timing{Rate: 48000})
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Write", func() { r.Write(src, 300) }},
		{"WriteSilence", func() { r.WriteSilence(300) }},
		{"Fill", func() { _ = r.Fill() + r.Free() }},
		{"ring.Timing", func() { r.Timing() }},
		{"Stats", func() { r.Stats() }},
		{"Read", func() { r.Read(dst, 300) }},
		{"WriteRead", func() { r.Write(src, 256); r.Read(dst, 256) }},
	} {
		if a := testing.AllocsPerRun(1000, tc.f); a != 0 {
			t.Errorf("%s: %v allocations per run", tc.name, a)
		}
	}
}

// BenchmarkWriteCRead measures Go writer -> C reader (pthread, 256-frame
// reads) throughput; frames/s is the figure to report.
func BenchmarkWriteCRead(b *testing.B) {
	for _, chans := range []int{2, 8} {
		b.Run(map[int]string{2: "2ch", 8: "8ch"}[chans], func(b *testing.B) {
			const block = 256
			r, err := ring.New(chans, 4096)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			src := newPlanar(chans, block)
			ck, err := ringtest.StartChecker(r, block, ^uint64(0), false)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(chans * 4 * block))
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				for off := 0; off < block; {
					w := r.Write(shift(src, off), block-off)
					if w == 0 {
						runtime.Gosched()
					}
					off += w
				}
			}
			for r.Fill() > 0 {
				runtime.Gosched()
			}
			el := time.Since(start)
			b.StopTimer()
			ck.Stop()
			b.ReportMetric(float64(b.N*block)/el.Seconds(), "frames/s")
		})
	}
}

func BenchmarkWriteGoRead(b *testing.B) {
	const chans, block = 8, 256
	r, err := ring.New(chans, 4096)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	src, dst := newPlanar(chans, block), newPlanar(chans, block)
	b.SetBytes(chans * 4 * block)
	for b.Loop() {
		r.Write(src, block)
		r.Read(dst, block)
	}
	b.ReportMetric(float64(b.N*block)/b.Elapsed().Seconds(), "frames/s")
}

// After a restart the stale queue is gone, the start fill applies again
// (silence, no underruns counted, while it fills) and reading resumes with
// exactly the frames written after the restart.
func TestRestartDropsQueueAndRearmsStart(t *testing.T) {
	for _, cons := range consumers {
		t.Run(cons.name, func(t *testing.T) {
			const nframes, start = 128, 300
			r, err := ring.New(2, 1024)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			c := cons.new(r, nframes)
			defer c.close()
			r.SetStartFill(start)
			src := newPlanar(2, 1024)
			var wpos uint64
			write := func(n int) {
				counterBlock(src, wpos, n)
				if got := r.Write(src, n); got != n {
					t.Fatalf("wrote %d of %d", got, n)
				}
				wpos += uint64(n)
			}
			write(400)
			if got := c.read(nframes); got != nframes || !r.Running() {
				t.Fatalf("read %d running %v before restart", got, r.Running())
			}
			write(r.Free()) // the consumer went away and the queue filled up
			c.restart()
			if r.Running() || r.Fill() != 0 || r.ReadPos() != r.Written() || r.Free() != r.Capacity() {
				t.Fatalf("after restart: running %v fill %d read %d written %d free %d",
					r.Running(), r.Fill(), r.ReadPos(), r.Written(), r.Free())
			}
			before := r.Stats()
			write(start - 1)
			if got := c.read(nframes); got != 0 {
				t.Fatalf("read %d below the start fill", got)
			}
			for ch := range 2 {
				for i, x := range c.out(ch)[:nframes] {
					if x != 0 {
						t.Fatalf("pre-fill channel %d frame %d = %v, want silence", ch, i, x)
					}
				}
			}
			first := wpos - (start - 1)
			write(1)
			if got := c.read(nframes); got != nframes {
				t.Fatalf("read %d at the start fill, want %d", got, nframes)
			}
			for ch := range 2 {
				for i, x := range c.out(ch)[:nframes] {
					if want := ringtest.Counter(first+uint64(i), ch); x != want {
						t.Fatalf("channel %d frame %d = %v, want %v (frame %d)", ch, i, x, want, first+uint64(i))
					}
				}
			}
			if after := r.Stats(); after.UnderrunEvents != before.UnderrunEvents {
				t.Fatalf("restart pre-fill counted underruns: %+v -> %+v", before, after)
			}
		})
	}
}
