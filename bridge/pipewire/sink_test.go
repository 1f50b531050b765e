package pipewire_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/bridge/pipewire"
	"github.com/sgbridge/sgbridge/bridge/ring"
	"github.com/sgbridge/sgbridge/internal/analysis"
	"github.com/sgbridge/sgbridge/internal/logtail"
	"github.com/sgbridge/sgbridge/internal/pwtest"
	"github.com/sgbridge/sgbridge/internal/wav"
)

const (
	rate    = 48000
	quantum = 256
)

func TestDefaultPositions(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{1, "MONO"},
		{2, "FL,FR"},
		{3, "FL,FR,FC"},
		{4, "FL,FR,RL,RR"},
		{6, "FL,FR,FC,LFE,RL,RR"},
		{8, "FL,FR,FC,LFE,RL,RR,SL,SR"},
		{9, "AUX0,AUX1,AUX2,AUX3,AUX4,AUX5,AUX6,AUX7,AUX8"},
	} {
		got := strings.Join(pipewire.DefaultPositions(tc.n), ",")
		if got != tc.want {
			t.Errorf("%d channels: %s, want %s", tc.n, got, tc.want)
		}
		// Every default must be a name PipeWire knows.
		if _, err := pipewire.ParsePositions(got); err != nil {
			t.Errorf("%d channels: %v", tc.n, err)
		}
	}
}

func TestParsePositions(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"FL,FR", "FL,FR", ""},
		{"fl fr  lfe", "FL,FR,LFE", ""},
		{"AUX0,AUX63", "AUX0,AUX63", ""},
		{"", "", "empty"},
		{"FL,XX", "", `unknown channel position "XX"`},
		{"FL,FL", "", "FL given twice"},
		{"UNK", "", "unknown"},
		{"NA", "", "unknown"},
	} {
		got, err := pipewire.ParsePositions(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("%q: %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParsePositions(f *testing.F) {
	for _, s := range []string{"FL,FR", "aux3 aux4", "", ",,", "MONO", "FL,FL"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := pipewire.ParsePositions(s)
		if err == nil && (len(p) == 0 || len(p) > pipewire.MaxChannels) {
			t.Fatalf("%q: accepted %d positions", s, len(p))
		}
	})
}

func TestNoServer(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("PIPEWIRE_RUNTIME_DIR", "")
	t.Setenv("PIPEWIRE_REMOTE", "")
	if pipewire.Available() {
		t.Fatal("Available with an empty runtime dir")
	}
	_, err := pipewire.Open(pipewire.Config{Name: "sgbt"})
	if !errors.Is(err, pipewire.ErrNoServer) {
		t.Fatalf("Open: %v, want ErrNoServer", err)
	}
	for _, want := range []string{filepath.Join(dir, "pipewire-0"), "--sink jack"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}
}

// feeder is a producer paced by CLOCK_MONOTONIC, like a device at exactly
// the graph's rate: it writes the counter signal whether or not the ring
// has room, and counts what it drops.
type feeder struct {
	r       *ring.Ring
	stop    chan struct{}
	wg      sync.WaitGroup
	written atomic.Uint64 // frames produced (dropped ones included)
	dropped atomic.Uint64
}

func startFeeder(r *ring.Ring) *feeder {
	f := &feeder{r: r, stop: make(chan struct{})}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		const block = 64
		buf := make([][]float32, r.Channels())
		for c := range buf {
			buf[c] = make([]float32, block)
		}
		t0 := time.Now()
		var pos uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
			due := uint64(time.Since(t0).Seconds() * rate)
			for pos+block <= due {
				for c := range buf {
					for i := range buf[c] {
						buf[c][i] = float32((pos+uint64(i)+4096*uint64(c))&(1<<23-1)) / (1 << 23)
					}
				}
				n := r.Write(buf, block)
				f.dropped.Add(uint64(block - n))
				pos += block
				f.written.Store(pos)
			}
		}
	}()
	return f
}

func (f *feeder) Stop() { close(f.stop); f.wg.Wait() }

// bridge is a running sink fed by a feeder.
type bridge struct {
	sink *pipewire.Sink
	ring *ring.Ring
	feed *feeder
}

func startBridge(t *testing.T, cfg pipewire.Config, channels int) *bridge {
	t.Helper()
	s, err := pipewire.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Rate() != rate || s.Period() != quantum {
		s.Close()
		t.Fatalf("after Open: rate %d period %d, want %d %d", s.Rate(), s.Period(), rate, quantum)
	}
	r, err := ring.New(channels, 8192)
	if err != nil {
		t.Fatal(err)
	}
	r.SetStartFill(quantum + quantum + 64)
	b := &bridge{sink: s, ring: r, feed: startFeeder(r)}
	t.Cleanup(func() {
		b.sink.Close()
		b.feed.Stop()
		b.ring.Close()
	})
	if err := s.Start(r); err != nil {
		t.Fatal(err)
	}
	return b
}

// waitEvent waits for an event of kind.
func waitEvent(t *testing.T, s *pipewire.Sink, kind pipewire.EventKind, within time.Duration) pipewire.Event {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case ev := <-s.Events():
			t.Logf("event %s: %s", ev.Kind, ev.Msg)
			if ev.Kind == kind {
				return ev
			}
			if ev.Kind == pipewire.Failed {
				t.Fatalf("sink failed: %v", s.Err())
			}
		case <-timeout:
			t.Fatalf("no %s event within %v (stats %+v)", kind, within, s.Stats())
		}
	}
}

// record runs pw-record on node for d and returns the recording.
func record(t *testing.T, node string, channels int, positions []string, d time.Duration) [][]float64 {
	t.Helper()
	out := filepath.Join(t.TempDir(), "rec.wav")
	ctx, cancel := context.WithTimeout(context.Background(), d+15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "pw-record", "--target", node, "--rate", fmt.Sprint(rate),
		"--channels", fmt.Sprint(channels), "--channel-map", strings.Join(positions, ","),
		"--format", "f32", "--latency", fmt.Sprint(quantum), out)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil && ctx.Err() != nil {
		t.Fatalf("pw-record: %v\n%s", err, stderr.String())
	}
	f, x, err := wav.ReadFile(out)
	if err != nil {
		t.Fatalf("read pw-record's file: %v\n%s", err, stderr.String())
	}
	if f.Channels != channels || f.Rate != rate || !f.Float || f.Bits != 32 {
		t.Fatalf("pw-record wrote %+v", f)
	}
	return x
}

// checkCounter checks that from 100 ms after its first non-silent frame
// on, every channel carries the counter bit-exact, with channel c offset
// by 4096·c from channel 0 (so the channels arrive in order). It returns
// the frames checked. The first 100 ms are pw-record's: while its stream
// joins the graph it can take its first buffer a cycle early (seen once in
// CI as one 256-frame step at frame 256 of the recording, with the sink
// reporting every cycle served); a cycle the sink itself misses shows in
// its NoBuffer and underrun counters, which the tests assert.
func checkCounter(t *testing.T, x [][]float64) int {
	t.Helper()
	start := analysis.SkipZeros(x[1])
	if start == len(x[1]) {
		t.Fatal("the recording is silent")
	}
	start = min(start+rate/10, len(x[1]))
	var n0 uint32
	for c := range x {
		s, err := analysis.Counter(x[c][start:], c)
		if err != nil {
			t.Fatalf("from frame %d: %v", start, err)
		}
		if c == 0 {
			n0 = s
		} else if s != n0 {
			t.Fatalf("channel %d carries frame %d where channel 0 carries %d: channels out of order", c, s, n0)
		}
	}
	return len(x[0]) - start
}

func monoNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// Eight channels of the counter signal go through the ring and the C
// process callback into a private PipeWire graph and are recorded by
// pw-record, linked by WirePlumber: every sample must arrive, bit-exact
// and in channel order.
func TestCounterBitExact(t *testing.T) {
	srv := pwtest.StartT(t, pwtest.Config{Rate: rate, Quantum: quantum})
	needBinary(t, "pw-record")
	const channels = 8
	b := startBridge(t, pipewire.Config{Name: "sgbt_counter", Description: "SG grabber (test)"}, channels)
	waitEvent(t, b.sink, pipewire.Streaming, 10*time.Second)

	x := record(t, "sgbt_counter", channels, pipewire.DefaultPositions(channels), 5*time.Second)
	n := checkCounter(t, x)
	st := b.sink.Stats()
	t.Logf("%d frames x %d channels bit-exact and in order (%.2f s); sink %+v; dropped %d", n, channels, float64(n)/rate, st, b.feed.dropped.Load())
	if n < 3*rate {
		t.Fatalf("only %d frames carried the signal", n)
	}
	if st.UnderrunEvents != 0 || st.NoBuffer != 0 || b.feed.dropped.Load() != 0 {
		t.Fatalf("want no underruns, missing buffers or drops: %+v, dropped %d\n%s", st, b.feed.dropped.Load(), srv.Output())
	}
}

// The node shows in pw-dump with the properties desktops display, and the
// latency set through SetLatency as its parameters.
func TestNodeProperties(t *testing.T) {
	srv := pwtest.StartT(t, pwtest.Config{Rate: rate, Quantum: quantum})
	const channels = 8
	b := startBridge(t, pipewire.Config{Name: "sgbt_props", Description: "SG grabber (sgrab)", Latency: quantum}, channels)
	waitEvent(t, b.sink, pipewire.Streaming, 10*time.Second)
	const latency = 600
	b.sink.SetLatency(latency)

	var node pwtest.Object
	deadline := time.Now().Add(5 * time.Second)
	for {
		objs, err := srv.Dump()
		if err != nil {
			t.Fatal(err)
		}
		var ok bool
		node, ok = pwtest.Node(objs, "sgbt_props")
		if ok && latencyParam(node) == fmt.Sprintf("Output %d %d", latency, latency) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node with latency %d not in pw-dump; node: %+v", latency, node)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for key, want := range map[string]string{
		"node.name":        "sgbt_props",
		"node.description": "SG grabber (sgrab)",
		"media.class":      "Audio/Source",
		"audio.position":   "FL,FR,FC,LFE,RL,RR,SL,SR",
		"audio.channels":   "8",
		"node.latency":     "256/48000",
	} {
		if got := node.Prop(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	t.Logf("pw-dump: id %d props %v", node.ID, node.Info.Props)
	t.Logf("pw-dump: Latency %v", node.Info.Params["Latency"])
	t.Logf("pw-dump: EnumFormat %v", node.Info.Params["EnumFormat"])
}

// The timing the callback publishes is the graph's: its rate and quantum,
// cycle starts on CLOCK_MONOTONIC one quantum apart, a frame counter that
// advances by the quantum.
func TestTimingSnapshots(t *testing.T) {
	pwtest.StartT(t, pwtest.Config{Rate: rate, Quantum: quantum})
	b := startBridge(t, pipewire.Config{Name: "sgbt_timing"}, 2)
	waitEvent(t, b.sink, pipewire.Streaming, 10*time.Second)
	time.Sleep(200 * time.Millisecond)

	const want = float64(quantum) / rate * 1e9
	var prev ring.Timing
	for i := range 50 {
		time.Sleep(7 * time.Millisecond)
		now := monoNow()
		tm, ok := b.ring.Timing()
		if !ok {
			t.Fatal("no timing published")
		}
		if tm.Rate != rate || tm.NFrames != quantum {
			t.Fatalf("snapshot %d: rate %d nframes %d", i, tm.Rate, tm.NFrames)
		}
		if math.Abs(tm.Period-want) > want*1e-3 {
			t.Fatalf("snapshot %d: period %.0f ns, want %.0f", i, tm.Period, want)
		}
		if age := now - tm.CycleStart; age < 0 || age > 50e6 {
			t.Fatalf("snapshot %d: cycle start %d ns before now on CLOCK_MONOTONIC", i, age)
		}
		if d := float64(tm.NextStart - tm.CycleStart); math.Abs(d-want) > 0.01*want {
			t.Fatalf("snapshot %d: next - start = %.0f ns, want %.0f", i, d, want)
		}
		if i > 0 {
			if tm.Cycle <= prev.Cycle || tm.CycleStart <= prev.CycleStart {
				t.Fatalf("snapshot %d: cycle %d at %d after cycle %d at %d", i, tm.Cycle, tm.CycleStart, prev.Cycle, prev.CycleStart)
			}
			cycles := tm.Cycle - prev.Cycle
			if tm.Frames-prev.Frames != cycles*quantum {
				t.Fatalf("snapshot %d: frames advanced %d in %d cycles", i, tm.Frames-prev.Frames, cycles)
			}
			if dt := float64(tm.CycleStart - prev.CycleStart); math.Abs(dt-float64(cycles)*want) > 0.02*want*float64(cycles)+50e3 {
				t.Fatalf("snapshot %d: %d cycles took %.0f ns", i, cycles, dt)
			}
		}
		prev = tm
	}
	t.Logf("last snapshot: %+v", prev)

	// After Close the counters stay readable and Done says why.
	if err := b.sink.Close(); err != nil {
		t.Fatal(err)
	}
	<-b.sink.Done()
	if !errors.Is(b.sink.Err(), pipewire.ErrClosed) {
		t.Fatalf("Err after Close: %v", b.sink.Err())
	}
	if st := b.sink.Stats(); st.Cycles < prev.Cycle || b.sink.Period() != quantum || b.sink.Xruns() != st.NoBuffer {
		t.Fatalf("after Close: stats %+v period %d", st, b.sink.Period())
	}
}

// The daemon is killed and started again: the sink says so once, the
// feeder keeps running (its frames are dropped), the sink reconnects, the
// stale queue is dropped, and the audio resumes bit-exact.
func TestDaemonRestart(t *testing.T) {
	srv := pwtest.StartT(t, pwtest.Config{Rate: rate, Quantum: quantum})
	needBinary(t, "pw-record")
	logBuf := &logtail.Buffer{Max: 1 << 20}
	log := slog.New(slog.NewTextHandler(logBuf, nil))
	const channels = 4
	b := startBridge(t, pipewire.Config{Name: "sgbt_restart", Log: log}, channels)
	waitEvent(t, b.sink, pipewire.Streaming, 10*time.Second)
	time.Sleep(300 * time.Millisecond)

	srv.Kill()
	waitEvent(t, b.sink, pipewire.Disconnected, 5*time.Second)
	select {
	case <-b.sink.Done():
		t.Fatalf("Done closed when the daemon went away: %v", b.sink.Err())
	default:
	}
	time.Sleep(500 * time.Millisecond) // long enough for the queue to fill up
	if d := b.feed.dropped.Load(); d == 0 {
		t.Fatalf("the producer dropped nothing while the daemon was away (fill %d/%d)", b.ring.Fill(), b.ring.Capacity())
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, b.sink, pipewire.Reconnected, 10*time.Second)
	waitEvent(t, b.sink, pipewire.Streaming, 10*time.Second)
	// Until the new stream's first cycle drops the stale queue the ring
	// is still full.
	time.Sleep(200 * time.Millisecond)
	dropped := b.feed.dropped.Load()

	x := record(t, "sgbt_restart", channels, pipewire.DefaultPositions(channels), 3*time.Second)
	n := checkCounter(t, x)
	// The stale queue was dropped: the fill is back near the start fill,
	// not at the ring's capacity.
	fill := b.ring.Fill()
	st := b.sink.Stats()
	t.Logf("after the restart: %d frames bit-exact; fill %d of %d; dropped while away %d; sink %+v", n, fill, b.ring.Capacity(), dropped, st)
	if fill > 4*quantum {
		t.Errorf("fill %d after reconnecting: the stale queue became latency", fill)
	}
	if st.Reconnects != 1 || !st.Connected {
		t.Errorf("stats %+v, want one reconnect and connected", st)
	}
	if got := b.feed.dropped.Load() - dropped; got != 0 {
		t.Errorf("%d frames dropped after the reconnect", got)
	}
	logs := logBuf.String()
	t.Logf("sink log:\n%s", logs)
	if strings.Count(logs, "PipeWire daemon gone") != 1 || strings.Count(logs, "node reconnected") != 1 {
		t.Errorf("want one 'gone' and one 'reconnected' line in the log")
	}
	if n < 2*rate {
		t.Fatalf("only %d frames after the restart", n)
	}
}

func needBinary(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("SKIP: %s NOT INSTALLED (apt-get install pipewire-bin); this test cannot run", n)
		}
	}
}

// latencyParam is the node's Latency param as "direction minRate maxRate".
func latencyParam(o pwtest.Object) string {
	l := o.Info.Params["Latency"]
	if len(l) != 1 {
		return ""
	}
	m, ok := l[0].(map[string]any)
	if !ok {
		return ""
	}
	return fmt.Sprint(m["direction"], " ", m["minRate"], " ", m["maxRate"])
}
