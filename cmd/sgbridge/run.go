package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sgbridge/sgbridge/bridge"
	"github.com/sgbridge/sgbridge/bridge/jack"
	"github.com/sgbridge/sgbridge/bridge/pipewire"
	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/device/sim"
	"github.com/sgbridge/sgbridge/internal/status"
	"github.com/sgbridge/sgbridge/resample"
)

// runOptions are the flags of `sgbridge run`.
type runOptions struct {
	device       string
	sink         string
	name         string
	connect      []string
	jackServer   string
	channels     int
	rate         int
	period       int
	buffers      int
	format       string
	latency      int
	noResample   bool
	fixedLatency bool
	quality      string
	gcStress     float64
	positions    string
	description  string
	uio          uioOptions
	status       time.Duration
	logLevel     string

	simPPM     float64
	simJitter  time.Duration
	simSignal  string
	simFreq    float64
	simLoseIRQ float64

	// resolved by validate
	sample  device.SampleFormat
	signal  sim.Signal
	preset  resample.Quality
	graphHz int // the graph's rate once the sink is open
}

func newRunCmd() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Bridge a capture device into the graph until stopped",
		Long: `run opens the capture device and a graph client, exposes the device's channels
as capture ports NAME:capture_1..N, and moves audio until SIGINT or SIGTERM.`,
		Example: `  sgbridge run                                   # simulated grabber into JACK
  sgbridge run --device sim --sim-signal counter --channels 8 --no-resample
  sgbridge run --connect 'system:playback_.*'    # wire capture_i to the i-th match`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.device, "device", "sim", "capture device: sim, ... (sgbridge devices lists them)")
	f.StringVar(&o.sink, "sink", "auto", "graph to join: auto, jack or pipewire")
	f.StringVar(&o.name, "name", "sgbridge", "client name; ports are NAME:capture_1..N")
	f.StringArrayVar(&o.connect, "connect", nil, "connect capture_i to the i-th input port matching this JACK port name or regex (repeatable)")
	f.StringVar(&o.jackServer, "jack-server", "", "JACK server name (default: $JACK_DEFAULT_SERVER or \"default\")")
	f.IntVar(&o.channels, "channels", 2, "channels to capture, 1..64 (the simulator; a UIO profile sets its own)")
	f.IntVar(&o.rate, "rate", 0, "device sample rate in Hz (default: the graph's)")
	f.IntVar(&o.period, "period", 256, "frames per SG buffer (one interrupt each)")
	f.IntVar(&o.buffers, "buffers", 8, "SG buffers in the device ring")
	f.StringVar(&o.format, "format", "S32_LE", "native sample format: S16_LE, S24_3LE, S24_LE, S32_LE, FLOAT_LE")
	f.IntVar(&o.latency, "latency", 0, "frames added to the latency target (device period + graph period + resampler delay + margin)")
	f.BoolVar(&o.fixedLatency, "fixed-latency", false, "never raise the latency; by default a stall that outlasted the margin and emptied the queue raises the margin to cover it (up to 20 ms)")
	f.BoolVar(&o.noResample, "no-resample", false, "pass samples through bit-exact, no drift control; device and graph rates must match")
	f.StringVar(&o.quality, "quality", "default", "resampler preset: fast, default or best")
	f.StringVar(&o.positions, "positions", "", "PipeWire: channel positions, e.g. FL,FR or AUX0,AUX1 (default: the usual layout for the channel count)")
	f.StringVar(&o.description, "description", "", "PipeWire: the node's human name (default: what the device is and --name)")
	o.uio.addFlags(f)
	o.uio.addRunFlags(f)
	f.DurationVar(&o.status, "status-every", 0, "print a status line this often (e.g. 1s; 0: never)")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.Float64Var(&o.simPPM, "sim-ppm", 0, "simulator: device clock offset in ppm")
	f.DurationVar(&o.simJitter, "sim-jitter", 0, "simulator: interrupt jitter, e.g. 200us")
	f.Float64Var(&o.gcStress, "gc-stress", 0, "testing: allocate this many MB/s inside the process")
	f.MarkHidden("gc-stress")
	f.StringVar(&o.simSignal, "sim-signal", "sine", "simulator: sine, counter or silence")
	f.Float64Var(&o.simFreq, "sim-freq", sim.DefaultFreq, "simulator: sine base frequency in Hz (channel c gets F·(1+c/4))")
	f.Float64Var(&o.simLoseIRQ, "sim-lose-irq", 0, "simulator: probability that an interrupt is lost")
	return cmd
}

// validate checks every flag that needs no device or server, so that bad
// input is reported before anything is opened.
func (o *runOptions) validate() error {
	var err error
	if o.sample, err = device.ParseSampleFormat(o.format); err != nil {
		return usageError("--format: %v", err)
	}
	if o.preset, err = resample.ParseQuality(o.quality); err != nil {
		return usageError("--quality: %v", err)
	}
	if o.signal, err = sim.ParseSignal(o.simSignal); err != nil {
		return usageError("--sim-signal: %v", err)
	}
	if o.channels < device.MinChannels || o.channels > device.MaxChannels {
		return usageError("--channels %d: sgbridge bridges %d to %d channels", o.channels, device.MinChannels, device.MaxChannels)
	}
	if o.rate != 0 && (o.rate < device.MinRate || o.rate > device.MaxRate) {
		return usageError("--rate %d: want %d..%d Hz", o.rate, device.MinRate, device.MaxRate)
	}
	if o.buffers < device.MinBuffers || o.buffers > device.MaxBuffers {
		return usageError("--buffers %d: want %d..%d", o.buffers, device.MinBuffers, device.MaxBuffers)
	}
	if o.uio.rtPrio < 0 || o.uio.rtPrio > 99 {
		return usageError("--rt-priority %d: want 0 (off) or 1..99", o.uio.rtPrio)
	}
	if o.latency < 0 {
		return usageError("--latency %d: frames can only be added to the target", o.latency)
	}
	if o.name == "" || strings.ContainsAny(o.name, ":") {
		return usageError("--name %q: want a non-empty name without ':'", o.name)
	}
	if _, err := resolveSink(o.sink, func() bool { return false }); err != nil {
		return err
	}
	if o.positions != "" {
		if _, err := nodePositions(o.positions, o.channels); err != nil && o.device == "sim" {
			return err
		}
	}
	spec, err := device.ParseSpec(o.device)
	if err != nil {
		return usageError("--device: %v", err)
	}
	if spec.Backend == "uio" {
		// A bad profile is reported before any server is contacted.
		if _, err := o.uio.loadProfile(); err != nil {
			return usageError("--profile: %v", err)
		}
	}
	if spec.Backend == "sim" {
		// The simulator models the seed's SG engine, whose buffers are
		// power-of-two sized like every JACK and PipeWire period.
		if o.period < 16 || o.period > 8192 || bits.OnesCount(uint(o.period)) != 1 {
			return usageError("--period %d: the simulator needs a power of two from 16 to 8192 frames", o.period)
		}
		// Catch every other simulator setting now, before a server is
		// contacted; the rate is only a stand-in until the graph's is known.
		rate := o.rate
		if rate == 0 {
			rate = 48000
		}
		g, err := sim.New(sim.Config{Format: o.deviceFormat(rate), Signal: o.signal, Freq: o.simFreq,
			PPM: o.simPPM, Jitter: o.simJitter, LoseIRQ: o.simLoseIRQ})
		if err != nil {
			return usageError("%v", err)
		}
		g.Close()
	}
	return nil
}

func (o *runOptions) deviceFormat(rate int) device.Format {
	return device.Format{Rate: rate, Channels: o.channels, Sample: o.sample, Period: o.period, Buffers: o.buffers}
}

func (o *runOptions) openSim() (device.Grabber, error) {
	rate := o.rate
	if rate == 0 {
		rate = o.graphHz
	}
	return sim.New(sim.Config{
		Format:  o.deviceFormat(rate),
		Signal:  o.signal,
		Freq:    o.simFreq,
		PPM:     o.simPPM,
		Jitter:  o.simJitter,
		LoseIRQ: o.simLoseIRQ,
		Seed:    uint64(time.Now().UnixNano()),
	})
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usageError("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func (o *runOptions) run(ctx context.Context, stderr io.Writer) error {
	if os.Getenv("GOMAXPROCS") == "" {
		// The interrupt loop needs a P the moment its sleep ends. Spare Ps
		// cost nothing in a process this idle, and with them a P held by a
		// preempted thread of ours never delays the loop.
		runtime.GOMAXPROCS(max(runtime.NumCPU(), 8))
	}
	level, err := parseLevel(o.logLevel)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	spec, _ := device.ParseSpec(o.device)
	reg := registry(o)
	if err := checkBackend(reg, spec); err != nil {
		return err
	}

	channels, err := o.deviceChannels(spec)
	if err != nil {
		return err
	}
	sink, sinkKind, err := o.openSink(spec, channels, log)
	if err != nil {
		return err
	}
	defer sink.Close()
	o.graphHz = sink.Rate()

	dev, err := reg.Open(spec)
	if err != nil {
		return err
	}
	defer dev.Close()

	eng, err := bridge.New(bridge.Config{
		Device: dev, Sink: sink, Log: log,
		Resample: !o.noResample, Quality: o.preset, Margin: bridge.DefaultMargin + o.latency,
		FixedMargin:   o.fixedLatency,
		WaitForDevice: o.uio.wait, Priority: cmp.Or(o.uio.rtPrio, -1),
	})
	if err != nil {
		return err
	}
	// The sink's C callback reads the engine's ring: the sink must be gone
	// before the ring is unmapped.
	defer func() {
		sink.Close()
		eng.Close()
	}()

	started := time.Now()
	f := dev.Format()
	srv, err := status.Listen(status.Path(o.name), func() any {
		return &statusDoc{
			Name: sink.Name(), Device: spec.String(), Sink: sinkKind, Rate: f.Rate,
			Channels: f.Channels, DevicePeriod: f.Period, GraphPeriod: sink.Period(),
			Uptime: time.Since(started).Seconds(), Stats: eng.Stats(),
		}
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	log.Info("status socket", "path", srv.Path())

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	if o.gcStress > 0 {
		log.Warn("allocating to stress the garbage collector", "MB/s", o.gcStress)
		go gcStress(ctx, o.gcStress)
	}

	if c, ok := sink.(jackSink); ok {
		if len(o.connect) > 0 {
			if err := c.Connect(o.connect); err != nil {
				log.Warn("auto-connect failed", "err", err)
			}
		}
		log.Info("capture ports ready", "sink", "jack", "ports", fmt.Sprintf("%s:capture_1..%d", c.Name(), f.Channels))
	} else {
		if len(o.connect) > 0 {
			log.Warn("--connect is for JACK; route the PipeWire node with a patchbay, pw-link or WirePlumber rules")
		}
		log.Info("source node ready", "sink", "pipewire", "node", sink.Name(), "channels", f.Channels)
	}

	var tick <-chan time.Time
	if o.status > 0 {
		t := time.NewTicker(o.status)
		defer t.Stop()
		tick = t.C
	}
	// The drift controller's lock is said once each time it is gained or
	// lost (a device that returned, a graph clock that stepped): from
	// here, not the interrupt loop, which must not allocate.
	var lockTick <-chan time.Time
	lock := ""
	if eng.Stats().Resample {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		lockTick = t.C
	}
	for {
		select {
		case <-lockTick:
			s := eng.Stats()
			if s.Lock == lock {
				break
			}
			switch {
			case s.Lock == "locked":
				log.Info("drift locked", "ratio_ppm", s.RatioPPM, "device_ppm", s.DevicePPM, "graph_ppm", s.GraphPPM,
					"latency_frames", s.Latency)
			case lock == "locked":
				log.Info("drift lock lost; measuring the clocks again", "state", s.Lock)
			}
			lock = s.Lock
		case err := <-done:
			s := eng.Stats()
			attrs := []any{"interrupts", s.Interrupts, "underruns", s.UnderrunEvents, "xruns", s.Xruns,
				"lost_irqs", s.LostIRQs, "overflow_frames", s.Overflows, "worst_stall_us", int(s.WorstStall * 1e6)}
			if s.Resample {
				attrs = append(attrs, "lock", s.Lock, "ratio_ppm", s.RatioPPM, "device_ppm", s.DevicePPM, "graph_ppm", s.GraphPPM,
					"error_frames", s.Error,
					"resyncs", s.Resyncs, "skipped_cycles", s.SkippedCycles, "latency_frames", s.Latency,
					"margin_frames", s.Margin, "margin_raises", s.MarginRaises)
			}
			log.Info("stopped", attrs...)
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		case <-tick:
			fmt.Fprintln(stderr, statusLine(eng.Stats(), f.Rate))
		}
	}
}

func checkBackend(reg *device.Registry, spec device.Spec) error {
	var names []string
	for _, b := range reg.Backends() {
		if b.Name == spec.Backend {
			return nil
		}
		names = append(names, b.Name)
	}
	return usageError("--device %q: unknown backend %q (this build has: %s; sgbridge devices lists devices)", spec.String(), spec.Backend, strings.Join(names, ", "))
}

func statusLine(s bridge.Stats, rate int) string {
	lat := "?"
	if s.Latency != 0 {
		lat = fmt.Sprintf("%.0f frames (%.2f ms)", s.Latency, s.Latency/float64(rate)*1e3)
	}
	line := fmt.Sprintf("queue %d  latency %s, target %d  underruns %d  xruns %d  lost irqs %d  worst stall %.2f ms",
		s.Fill, lat, s.Target, s.UnderrunEvents, s.Xruns, s.LostIRQs, s.WorstStall*1e3)
	if s.Resample {
		line += fmt.Sprintf("  %s %+.3f ppm", s.Lock, s.RatioPPM)
	}
	return line
}

// graphSink is what run needs of a sink: the engine's Sink, a name for
// the status document and a way to leave the graph.
type graphSink interface {
	bridge.Sink
	Name() string
	Close() error
}

// jackSink adapts the JACK client to the engine's Sink.
type jackSink struct{ *jack.Client }

func (s jackSink) Xruns() uint64 { return s.Stats().Xruns }

// openSink joins the graph --sink names: auto is PipeWire when its socket
// answers, else JACK.
func (o *runOptions) openSink(spec device.Spec, channels int, log *slog.Logger) (graphSink, string, error) {
	kind, err := resolveSink(o.sink, pipewire.Available)
	if err != nil {
		return nil, "", err
	}
	if kind == "pipewire" {
		pos, err := nodePositions(o.positions, channels)
		if err != nil {
			return nil, "", err
		}
		s, err := pipewire.Open(pipewire.Config{
			Name:        o.name,
			Description: nodeDescription(o.description, spec, o.name),
			Positions:   pos,
			Latency:     o.period,
			Log:         log,
		})
		return s, kind, err
	}
	// Reconnect: like the PipeWire node, the ports come back when the
	// server does, and the device runs on meanwhile.
	c, err := jack.Open(jack.Config{Name: o.name, Server: o.jackServer, Reconnect: true, Log: log})
	if err != nil {
		return nil, "", err
	}
	return jackSink{c}, kind, nil
}

// deviceChannels is the channel count the device will have: the UIO
// profile's, or --channels.
func (o *runOptions) deviceChannels(spec device.Spec) (int, error) {
	if spec.Backend != "uio" {
		return o.channels, nil
	}
	p, err := o.uio.loadProfile()
	if err != nil {
		return 0, usageError("--profile: %v", err)
	}
	return p.Format.Channels, nil
}
