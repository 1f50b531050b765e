package drift

import (
	"fmt"
	"math"
)

// State is the controller's lock state.
type State uint8

const (
	// Waiting: no device interrupt or no sink cycle seen yet; the ratio is
	// nominal.
	Waiting State = iota
	// Acquiring: aligned once, clocks still being measured; the controller
	// may re-align (Correction) as the estimates sharpen.
	Acquiring
	// Locked: both clock rates known to better than Config.LockPPM; only a
	// resync (error beyond Config.ResyncBound) moves the queue in steps.
	Locked
)

func (s State) String() string {
	switch s {
	case Waiting:
		return "waiting"
	case Acquiring:
		return "acquiring"
	case Locked:
		return "locked"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Sink is one sink cycle as the sink's process callback published it. Its
// fields match bridge/ring.Timing one for one, so the engine converts with
// drift.Sink(t). Times are CLOCK_MONOTONIC ns, filtered by the server
// (jack_get_cycle_times), so they are smooth.
type Sink struct {
	CycleStart int64   // start of the cycle
	NextStart  int64   // start of the next cycle
	Period     float64 // filtered period, ns
	Frames     uint64  // graph frame counter at cycle start
	NFrames    uint32  // frames in the cycle
	Rate       uint32  // graph rate, Hz
	ReadPos    uint64  // ring frames consumed before this cycle's read
	Cycle      uint64  // cycles published so far; 0 means none yet
	// UnderrunFrames is the silence the sink gave for frames the ring did
	// not have, so far: the sink ran but found the queue short, which is
	// not the graph skipping it.
	UnderrunFrames uint64
	// Wake is when the sink's process callback began (CLOCK_MONOTONIC
	// ns), raw, or 0 when the sink does not give it. A wake-up is late
	// after the cycle's true start by a latency that varies and is never
	// negative, so the graph clock is then measured from the wake-ups'
	// lower edge, not from the server's filtered times: JACK's DLL starts
	// from one wake-up and settles for seconds, which a young line reads
	// as ppm of rate.
	Wake int64
}

// Input is what the interrupt loop knows when a device interrupt wakes it.
type Input struct {
	// Time is CLOCK_MONOTONIC ns, read as the loop woke.
	Time int64
	// Late says Time is an arrival (an interrupt, a wake-up), after the
	// completion by a latency that varies and never before it; the
	// device phase is then taken from the stamps' lower edge. False: a
	// bracket of looks at the device, as likely a little early as late,
	// whose mean is the phase.
	Late bool
	// DeviceFrames is the device's cumulative completed frames (interrupt
	// count × period). A jump of more than one period is a lost
	// interrupt; the count itself must be exact.
	DeviceFrames uint64
	// Sink is the newest published sink cycle (Cycle 0: none yet).
	Sink Sink
	// Consumed is the device frame position of the next frame the
	// resampler will take (same count as DeviceFrames: frames skipped or
	// lost count as consumed). Written is the total of frames put into the
	// ring, corrections included. Both as they are at this call; the
	// correction this call returns lands at Written.
	Consumed, Written uint64
	// Delay is the resampler's group delay in input (device) frames.
	Delay float64
}

// Output tells the interrupt loop how to run this period.
type Output struct {
	// Ratio is the resampling ratio (output graph frames per input device
	// frame) to use until the next update.
	Ratio float64
	// Correction moves the queue in one step before this period's output:
	// > 0 writes that many frames of silence (or a faded hold) into the
	// ring first; < 0 withholds the next -Correction output frames
	// (carry the remainder over if this period makes fewer). Non-zero at
	// the first alignment, at re-alignments while acquiring and at resyncs.
	Correction int
	// Resync is set when Correction is a resync (error past the bound): the
	// loop should fade around it.
	Resync bool
	State  State
	// Error is the measured latency minus the target, graph frames.
	Error float64
}

// Config sets up a Controller. Rates and periods are required; the rest
// has defaults (zero means default).
type Config struct {
	DeviceRate, GraphRate     float64 // nominal rates, Hz
	DevicePeriod, GraphPeriod int     // frames per interrupt / per cycle
	// Target is the latency to hold, graph frames: from a frame's
	// completion at the device (its interrupt) to the start of the sink
	// cycle that reads it, resampler delay included. It must cover device
	// period + graph period + resampler delay + the producer's worst stall.
	Target float64
	// MaxDeviation clamps the ratio to nominal·(1 ± MaxDeviation).
	// Default 0.05.
	MaxDeviation float64
	// ResyncBound: an error beyond it (graph frames) is corrected in one
	// step. Default max(32, GraphPeriod/2): one skipped sink cycle trips it.
	ResyncBound float64
	// Bandwidth is the phase loop's natural frequency, Hz, once locked.
	// Default 0.002: the feed-forward carries the rate, so the loop only
	// trims phase; wider lets the device phase estimate's noise into the
	// ratio (0.005 Hz adds ~0.04 ppm RMS at 20 µs jitter). It is the
	// widest the loop gets: when the graph clock's published times wander
	// the loop narrows so the wander moves the ratio < 0.05 ppm.
	Bandwidth float64
	// DriftRate is the clock estimators' process noise, as the slope (ppm
	// per minute) of the drift ramps to follow: the filters carry drift
	// and its rate of change as states, so ramps of this slope turning
	// smoothly (thermal drift) are followed without lag. Larger follows
	// sharper turns with more rate noise; smaller averages longer (less
	// ratio noise at high jitter). Default 5, the ramps.
	DriftRate float64
	// Jitter is the first guess of the interrupt timestamp jitter, s RMS;
	// the controller measures it from then on. Default 50 µs.
	Jitter float64
	// LockPPM: Locked once the ratio's standard error is below it.
	// Default 1, the lock: the phase is trimmed then, and the
	// loop takes over.
	LockPPM float64
}

func (c *Config) setDefaults() {
	if c.MaxDeviation == 0 {
		c.MaxDeviation = 0.05
	}
	if c.ResyncBound == 0 {
		c.ResyncBound = math.Max(32, float64(c.GraphPeriod)/2)
	}
	if c.Bandwidth == 0 {
		c.Bandwidth = 0.002
	}
	if c.DriftRate == 0 {
		c.DriftRate = 5
	}
	if c.Jitter == 0 {
		c.Jitter = 50e-6
	}
	if c.LockPPM == 0 {
		c.LockPPM = 1
	}
}

func (c *Config) check() error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case bad(c.DeviceRate) || c.DeviceRate < 1000 || c.DeviceRate > 1e6:
		return fmt.Errorf("device rate %g Hz: want 1000..1000000", c.DeviceRate)
	case bad(c.GraphRate) || c.GraphRate < 1000 || c.GraphRate > 1e6:
		return fmt.Errorf("graph rate %g Hz: want 1000..1000000", c.GraphRate)
	case c.DevicePeriod < 1 || c.DevicePeriod > 1<<20:
		return fmt.Errorf("device period %d frames: want 1..%d", c.DevicePeriod, 1<<20)
	case c.GraphPeriod < 1 || c.GraphPeriod > 1<<20:
		return fmt.Errorf("graph period %d frames: want 1..%d", c.GraphPeriod, 1<<20)
	case bad(c.Target) || c.Target < float64(c.GraphPeriod):
		return fmt.Errorf("target %g frames: want at least one graph period (%d)", c.Target, c.GraphPeriod)
	case bad(c.MaxDeviation) || c.MaxDeviation <= 0 || c.MaxDeviation > 0.5:
		return fmt.Errorf("max deviation %g: want (0, 0.5]", c.MaxDeviation)
	case bad(c.ResyncBound) || c.ResyncBound < 1:
		return fmt.Errorf("resync bound %g frames: want >= 1", c.ResyncBound)
	case bad(c.Bandwidth) || c.Bandwidth <= 0 || c.Bandwidth > 1:
		return fmt.Errorf("bandwidth %g Hz: want (0, 1]", c.Bandwidth)
	case bad(c.DriftRate) || c.DriftRate <= 0 || c.DriftRate > 1e4:
		return fmt.Errorf("drift rate %g ppm/min: want (0, 10000]", c.DriftRate)
	case bad(c.Jitter) || c.Jitter <= 0 || c.Jitter > 0.1:
		return fmt.Errorf("jitter %g s: want (0, 0.1]", c.Jitter)
	case bad(c.LockPPM) || c.LockPPM <= 0:
		return fmt.Errorf("lock threshold %g ppm: want > 0", c.LockPPM)
	}
	return nil
}

// Stats is the controller's state for status display.
type Stats struct {
	State State
	// Ratio and PPM: the ratio in use, and its offset from nominal.
	Ratio, PPM float64
	// DevicePPM and GraphPPM: each clock's measured rate offset against
	// CLOCK_MONOTONIC.
	DevicePPM, GraphPPM float64
	// RateStdPPM: standard error of the ratio estimate.
	RateStdPPM float64
	// Error: latency minus target (graph frames); Latency: the measured
	// latency (graph frames).
	Error, Latency float64
	// JitterUS: measured interrupt timestamp jitter, µs RMS.
	JitterUS float64
	// Arrivals: the share of recent device stamps that were arrivals
	// (Input.Late), 0..1: how much the lower edge and hull count.
	Arrivals float64
	// LongMemory: the share of the long-memory device filter in the
	// device rate, 0..1 (see slowQ): 1 for a clock the stamps show
	// steady, 0 while it drifts or for bracketed stamps.
	LongMemory float64
	// LockedAt: Input.Time of the update that first locked (0: not yet).
	LockedAt int64
	// Alignments: corrections while acquiring (the first included);
	// Resyncs: corrections past the bound.
	Alignments, Resyncs uint64
	// LostIRQs: interrupts missing from the device count (jumps beyond
	// one period). SkippedCycles: sink cycles the graph did not run
	// (its counter advanced more than the read position and the silence
	// given for a short ring, in whole cycles); UnreadFrames: all frames
	// the sink played as silence once running, underruns included.
	LostIRQs, SkippedCycles, UnreadFrames uint64
	// LateIRQs: interrupt timestamps not used because they were far later
	// (or earlier) than the device clock allows: a stalled loop.
	// ClockRestarts: runs of them long enough to start measuring over.
	LateIRQs, ClockRestarts uint64
	Updates                 uint64
}

// Controller holds the drift loop's state. It is a pure function of its
// inputs: it reads no clock, starts nothing and allocates nothing after
// New, so tests run it on virtual time. It is not safe for concurrent use:
// the interrupt loop owns it and copies Stats out for others.
type Controller struct {
	cfg     Config
	nominal float64 // GraphRate / DeviceRate
	dev     clock
	slow    clock   // the device clock again, on a long memory (see slowQ)
	wSlow   float64 // slow's share in the device rate
	graphClock
	pos posMap

	state     State
	haveDev   bool
	firstDev  uint64 // the device count at the first interrupt since Reset
	lastDev   uint64
	holdW     uint64 // measurements wait until the reader passes this
	hold      bool
	jumped    bool // the sink read less than a cycle since the last step
	lastAlign int64

	// Phase loop: two one-pole smoothers, then PI.
	e1, e2, integ float64 // integ: the integral term, as a ratio correction
	w             float64 // loop frequency in use, rad/s
	ffSnk         float64 // graph clock rate in the feed-forward (slew-limited once locked)
	ffSnkOn       bool
	r1, r2        float64 // ratio smoothers
	rInit         bool
	loopInit      bool
	loopDev       uint64 // device frames at the previous update
	// Phase trim: the sub-frame error a step leaves (steps are whole
	// frames), and the error at lock, are taken out by a raised-cosine
	// ratio pulse over trimPeriods device periods.
	trimLeft    float64 // graph frames still to remove
	trimTotal   float64 // graph frames the pulse removes
	trimK       int     // periods of the pulse done
	trimPending bool    // trim once the hold after a step is over
	stdMark     float64 // rate std at stdMarkT, to see it stop improving
	stdMarkT    int64

	ratio, ff, err, lat float64
	stats               Stats
}

// graphClock is what the controller knows of the graph: its clock and
// where its sink was at the last cycle. A device that returns is a new
// clock on the same graph, so Reset keeps it.
type graphClock struct {
	snk       clock // sink filter for the first seconds, until ln is valid
	ln        line  // the graph clock as a long least-squares line
	lastCycle uint64
	lastSinkF uint64
	lastRead  uint64
	lastUnder uint64 // the sink's UnderrunFrames at lastCycle
}

// New returns a controller for cfg.
func New(cfg Config) (*Controller, error) {
	cfg.setDefaults()
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("drift: %w", err)
	}
	c := &Controller{cfg: cfg, nominal: cfg.GraphRate / cfg.DeviceRate}
	c.reset()
	return c, nil
}

// Reset forgets the device clock and everything measured against it (a
// device that returned, or restarted its count, is a new clock and a new
// stream) but keeps the graph clock's measurement, the configuration and
// the counters. The graph did not change: measuring it afresh would hold
// the lock back until a new line spans lockSpan again, and for a server
// that was young when the line began, lockSpanEdge, while the queue is
// stepped into place whole frames at a time.
func (c *Controller) Reset() {
	if c.dev.hull == nil {
		panic("drift: Reset before New")
	}
	g := c.graphClock
	c.reset()
	c.graphClock = g
}

// reset forgets everything measured. New calls it; Reset keeps the graph.
func (c *Controller) reset() {
	st := c.stats
	// Counters the clocks keep: what they counted before survives.
	st.LateIRQs += c.dev.rejects
	st.ClockRestarts += c.dev.resets
	dh, sh := c.dev.hull, c.slow.hull
	if dh == nil { // New: the only allocation
		dh, sh = new(hullStore), new(hullStore)
	}
	*c = Controller{cfg: c.cfg, nominal: c.nominal}
	c.stats = st
	c.trimK = trimPeriods // no trim running
	// Jerk noise density from the drift rate: a rate ramp of DriftRate
	// ppm/min that turns around about once a minute, i.e. a random walk of
	// the ramp slope with variance (2·slope)²/60 s per second.
	slope := c.cfg.DriftRate * 1e-6 / 60
	jerk := 2 * slope / 60
	q := jerk * jerk / 60 * snapScale
	c.dev.init(c.cfg.DeviceRate, q, slope, jerk, c.cfg.Jitter, jitterFloor*jitterFloor, dh)
	c.slow.init(c.cfg.DeviceRate, q*slowQ, slope, jerk, c.cfg.Jitter, jitterFloor*jitterFloor, sh)
	c.slow.rateOnly = true
	// The sink's times are already filtered by the server; start from a
	// small guess and let the filter measure the rest.
	c.snk.init(c.cfg.GraphRate, q*sinkQ, slope, jerk, sinkFloor, sinkFloor*sinkFloor, nil)
	c.ln.init(c.cfg.GraphRate)
	c.ratio, c.ff = c.nominal, c.nominal
	c.state = Waiting
	c.stats.State = Waiting
	c.stats.LockedAt = 0
}

// Config returns the configuration in use, defaults filled in.
func (c *Controller) Config() Config { return c.cfg }

// SetTarget moves the latency target (graph frames, at least one graph
// period). The queue is moved there in one step at the next Update, with
// the fades of a resync: slewing by the ratio instead would put minutes
// of pitch error into the audio. The engine calls it when a stall longer
// than the margin emptied the queue, so the step rides on a glitch that
// has already happened.
func (c *Controller) SetTarget(target float64) error {
	if math.IsNaN(target) || math.IsInf(target, 0) || target < float64(c.cfg.GraphPeriod) {
		return fmt.Errorf("drift: target %g frames: want at least one graph period (%d)", target, c.cfg.GraphPeriod)
	}
	c.cfg.Target = target
	c.jumped = true
	return nil
}

// Stats returns the controller's state for display.
func (c *Controller) Stats() Stats {
	s := c.stats
	s.State = c.state
	s.Ratio = c.ratio
	s.PPM = (c.ratio/c.nominal - 1) * 1e6
	if c.dev.valid() {
		s.DevicePPM = (1/c.devP() - 1) * 1e6
		s.JitterUS = c.dev.jitter() * 1e6
		s.Arrivals = c.dev.lateFrac
		s.LongMemory = c.wSlow
	}
	if c.snkValid() {
		s.GraphPPM = (1/c.snkP() - 1) * 1e6
	}
	s.RateStdPPM = c.rateStd() * 1e6
	s.Error = c.err
	s.Latency = c.lat
	s.LateIRQs += c.dev.rejects
	s.ClockRestarts += c.dev.resets + c.ln.restarts
	return s
}

func (c *Controller) rateStd() float64 {
	if !c.dev.valid() || !c.snkValid() {
		return math.Inf(1)
	}
	a, b := c.dev.rateStd(), c.snk.rateStd()
	if c.ln.valid() {
		b = c.ln.rateStd()
	}
	return math.Sqrt(a*a + b*b)
}

// snkValid reports whether the graph clock can be extrapolated; snkP is
// its seconds per nominal second, from the line once it is valid.
func (c *Controller) snkValid() bool { return c.ln.valid() || c.snk.valid() }

func (c *Controller) snkP() float64 {
	if c.ln.valid() {
		return c.ln.p()
	}
	return c.snk.p
}

// devPosAtSink returns the device frame position at the sink's filtered
// time of graph frame position g.
func (c *Controller) devPosAtSink(g float64) float64 {
	var dt float64
	if c.ln.valid() {
		dt = float64(c.ln.base-c.dev.base)*secondsPerNs + c.ln.timeOf(g) - c.dev.edge()
	} else {
		// Sink time of g relative to the sink's base, s.
		du := (g - float64(c.snk.frames)) / c.snk.nominal
		ts := c.snk.tau + c.snk.p*du + c.snk.a*du*du/2 + c.snk.j*du*du*du/6
		dt = float64(c.snk.base-c.dev.base)*secondsPerNs + ts - c.dev.edge()
	}
	return float64(c.dev.frames) + dt/c.dev.p*c.dev.nominal
}

// Update runs the controller for one device interrupt.
func (c *Controller) Update(in Input) Output {
	cfg := &c.cfg
	c.stats.Updates++
	if math.IsNaN(in.Delay) || math.IsInf(in.Delay, 0) {
		in.Delay = 0
	}
	// Device clock.
	if c.haveDev && in.DeviceFrames < c.lastDev {
		c.Reset() // the device restarted its count: a new stream
	}
	if !c.haveDev || in.DeviceFrames != c.lastDev {
		if c.haveDev {
			if d := in.DeviceFrames - c.lastDev; d > uint64(cfg.DevicePeriod) {
				c.stats.LostIRQs += d/uint64(cfg.DevicePeriod) - 1
			}
		}
		resets := c.dev.resets
		c.dev.kind = bracket
		if in.Late {
			c.dev.kind = arrival
		}
		c.dev.update(in.Time, in.DeviceFrames)
		c.dev.noteLate(in.Late)
		c.slow.kind = c.dev.kind
		c.slow.update(in.Time, in.DeviceFrames)
		c.slow.noteLate(in.Late)
		if c.haveDev {
			c.updateSlow(float64(in.DeviceFrames-c.lastDev) / cfg.DeviceRate)
		}
		if c.dev.resets != resets && c.state == Locked {
			c.state = Acquiring // the device clock jumped: measure again
		}
		if !c.haveDev {
			c.firstDev = in.DeviceFrames
		}
		c.haveDev = true
		c.lastDev = in.DeviceFrames
	}
	// Sink clock, once per new cycle.
	sk := &in.Sink
	if sk.Cycle != 0 && sk.Cycle != c.lastCycle {
		// Not before the reader's first frame: while the ring fills to its
		// start level the sink plays silence by design, not a skip.
		if c.lastCycle != 0 && c.lastRead > 0 && sk.Frames >= c.lastSinkF && sk.ReadPos >= c.lastRead {
			df, dr := sk.Frames-c.lastSinkF, sk.ReadPos-c.lastRead
			if df > dr {
				// The sink played silence instead of df-dr frames (an
				// underrun or a skipped cycle): the queue moved by that
				// much in one step, and is put back in one step.
				c.jumped = true
				c.stats.UnreadFrames += df - dr
				// Of those, the ones the sink gave as silence for a
				// short ring were its underruns (counted by the ring);
				// the rest are cycles the graph never ran it for.
				if short := sk.UnderrunFrames - c.lastUnder; sk.NFrames > 0 && df-dr > short {
					c.stats.SkippedCycles += (df - dr - short) / uint64(sk.NFrames)
				}
			}
		}
		if sk.Frames < c.lastSinkF {
			c.snk.restart()
			c.ln.restart()
		}
		c.snk.update(sk.CycleStart, sk.Frames)
		// A server that has just started is still settling its own DLL
		// (JACK's cycle times sit ~90 µs off their later line for the
		// first two seconds): a line on its times starts after that. Raw
		// wake-ups carry no DLL and are used from the first cycle.
		if sk.Wake != 0 || float64(sk.Frames) >= sinkSettle*cfg.GraphRate {
			restarts := c.ln.restarts
			if sk.Wake != 0 {
				c.ln.addArrival(sk.Wake, sk.Frames)
			} else {
				c.ln.add(sk.CycleStart, sk.Frames)
			}
			if c.ln.restarts != restarts {
				// The graph's times stepped: its filter measures afresh
				// too, and the queue is aligned again once they settle.
				c.snk.restart()
				if c.state == Locked {
					c.state = Acquiring
				}
			}
		}
		c.lastCycle, c.lastSinkF, c.lastRead, c.lastUnder = sk.Cycle, sk.Frames, sk.ReadPos, sk.UnderrunFrames
	}
	prevDev := c.loopDev
	x := float64(in.Consumed) - in.Delay
	c.pos.add(in.Written, x)

	out := Output{Ratio: c.nominal, State: c.state}
	if c.lastCycle == 0 {
		c.ratio = c.nominal
		return out
	}
	// Feed-forward: the ratio of the two measured clock rates.
	ff := c.nominal
	if c.dev.valid() && c.snkValid() {
		ps := c.snkP()
		if c.state == Locked && c.ffSnkOn {
			// Once locked the graph clock's rate, which is constant, may
			// still be re-estimated (the line grows), but it glides to
			// the new estimate at no more than sinkSlewPPM per second: a
			// late server wake-up moves a young line by ppm within a
			// second, and the sine would glide with it.
			slew := math.Max(sinkSlewPPM, sinkSlewYoung*math.Pow(c.slewSpan()/c.ln.span, 2.5))
			d := slew * 1e-6 * float64(in.DeviceFrames-c.loopDev) / cfg.DeviceRate
			ps = math.Min(c.ffSnk+d, math.Max(c.ffSnk-d, ps))
		}
		c.ffSnk, c.ffSnkOn = ps, c.state == Locked
		ff = c.nominal * c.devP() / ps
	}
	lo, hi := c.nominal*(1-cfg.MaxDeviation), c.nominal*(1+cfg.MaxDeviation)
	ff = math.Min(hi, math.Max(lo, ff))
	c.ff = ff

	// Latency at the newest sink cycle: device position interpolated at
	// its start minus the device position of the frame it read, in graph
	// frames. With nothing unread in the ring that frame was never read;
	// measure instead what the next frame written would get at the first
	// cycle still to come.
	var lat float64
	empty := in.Written <= sk.ReadPos
	if empty {
		period := sk.Period
		if !(period > 0) {
			period = float64(sk.NFrames) / cfg.GraphRate * nsPerSecond
		}
		g := float64(sk.Frames)
		if ahead := float64(in.Time - sk.CycleStart); ahead >= 0 && period > 0 {
			g += (math.Floor(ahead/period) + 1) * float64(sk.NFrames)
		}
		lat = (c.devPosAtSink(g) - x) * ff
	} else {
		lat = (c.devPosAtSink(float64(sk.Frames)) - c.pos.at(sk.ReadPos, ff)) * ff
	}
	e := lat - cfg.Target
	c.lat, c.err = lat, e
	out.Error = e

	if c.hold && sk.ReadPos >= c.holdW {
		c.hold = false
		c.loopInit = false
		if c.trimPending {
			// The frames before the step have been read: e is what the
			// step left, a fraction of a frame. Take it out in about ten
			// periods; nothing is recorded at this point worth more than
			// a short, tiny pitch change.
			c.trimPending = false
			c.startTrim(e)
		}
	}
	// The loop and the step decisions see the error the trim will not
	// take out.
	et := e - c.trimLeft
	switch {
	case c.state == Waiting || (empty && c.state != Waiting && !c.hold && math.Abs(e) > cfg.ResyncBound):
		// First alignment, or the ring ran dry (the producer stalled past
		// the margin): put the next frame where the target wants it.
		if c.state == Waiting {
			c.state = Acquiring
			c.stats.Alignments++
		} else {
			c.stats.Resyncs++
			out.Resync = true
		}
		out.Correction = c.correct(in, x, e, ff)
	case c.hold:
		// Frames from before the correction are still being read.
	case math.Abs(e) > cfg.ResyncBound || (c.jumped && c.state == Locked && math.Abs(et) >= 1):
		c.stats.Resyncs++
		out.Resync = true
		out.Correction = c.correct(in, x, e, ff)
	case c.state == Acquiring && c.dev.valid() && c.snkValid() &&
		math.Abs(et) >= 1 && math.Abs(et) > 4*c.phaseStd(ff, float64(sk.Frames)) &&
		in.Time-c.lastAlign > 250e6:
		// Estimates sharpened: the error is real and a whole frame or
		// more; a step now saves minutes of slewing at a ratio that is off.
		c.stats.Alignments++
		out.Correction = c.correct(in, x, e, ff)
	case c.state == Locked:
		c.loop(et, float64(in.DeviceFrames-prevDev)/cfg.DeviceRate)
	default:
		// Acquiring: the ratio is the feed-forward alone and the phase is
		// held by the alignments above. A loop started now would integrate
		// the early estimates' phase errors and unwind them for minutes.
	}
	c.loopDev = in.DeviceFrames
	if !c.hold {
		c.jumped = false
	}
	// Locked once the rate is known to LockPPM, or once the estimate has
	// stopped improving (more jitter than LockPPM allows: the filters are
	// at their steady state and waiting longer buys nothing).
	steady := false
	if sd := c.rateStd(); !math.IsInf(sd, 0) && in.Time-c.stdMarkT >= 1e9 {
		// Not when the estimate grew: the sink's line just took over, or
		// the wander it measures turned out larger.
		steady = c.stdMarkT != 0 && sd > 0.98*c.stdMark && sd <= c.stdMark
		c.stdMark, c.stdMarkT = sd, in.Time
	}
	// Or once the line spans lockSpan: a graph clock whose times wander
	// by tens of µs is known to 1 ppm only after ten seconds or more, but
	// the steps and the trim of acquiring must be over before anyone
	// listens; the loop and the line take it from there. The device must
	// have been measured as long (a line kept across Reset is older).
	// A young server's wake-up line is not locked on before it spans
	// lockSpanEdge, whatever its statistics say: they see the wake-ups'
	// scatter, not the slow wander of their least latency, and on a
	// replayed jackd trace they locked at 7 s on a rate 6 ppm off.
	devSpan := float64(c.lastDev-c.firstDev) / cfg.DeviceRate
	if c.state == Acquiring && !c.hold && c.ln.valid() && math.Abs(et) < 2 && c.ln.span >= c.minLockSpan() &&
		(c.rateStd() < cfg.LockPPM*1e-6 || steady || (c.ln.span >= lockSpan && devSpan >= lockSpan)) {
		c.state = Locked
		if c.stats.LockedAt == 0 {
			c.stats.LockedAt = in.Time
		}
		// What acquiring left (the feed-forward's early error, drifted
		// since the last step: up to a frame) goes now; the loop is
		// narrow and would take minutes, at a ratio off by 2ω·e/rate all
		// along. Less than trimMin is left to the loop (2ω·0.1/rate is
		// 0.05 ppm at 0.002 Hz).
		if math.Abs(e) >= trimMin {
			c.startTrim(e)
		}
	}
	dtUp := float64(in.DeviceFrames-prevDev) / cfg.DeviceRate
	r := c.smooth(ff*(1-c.correction()), dtUp)
	if c.trimK < trimPeriods {
		// The next DevicePeriod input frames make step fewer output
		// frames; the pulse starts and ends at zero, so the ratio never
		// steps.
		c.trimK++
		step := c.trimTotal * (1 - math.Cos(2*math.Pi*(float64(c.trimK)-0.5)/trimPeriods)) / trimPeriods
		r -= step / float64(cfg.DevicePeriod)
		c.trimLeft -= step
		if c.trimK == trimPeriods {
			// Measure again once the reader has passed the trimmed
			// frames (written up to this period's output).
			c.trimLeft = 0
			c.holdW = in.Written + uint64(math.Ceil(float64(cfg.DevicePeriod)*r)) + 1
		}
	}
	r = math.Min(hi, math.Max(lo, r))
	c.ratio = r
	out.Ratio = r
	out.State = c.state
	return out
}

// startTrim removes e graph frames from the queue by a ratio pulse.
func (c *Controller) startTrim(e float64) {
	c.trimLeft, c.trimTotal, c.trimK = e, e, 0
	// The error measured at the reader lags the trim by the queue: hold
	// the loop and the steps until the trimmed frames have been read.
	c.hold, c.holdW = true, math.MaxUint64
}

func (c *Controller) phaseStd(ff, g float64) float64 {
	a := c.dev.phaseStd() * ff
	b := c.snk.phaseStd()
	if c.ln.valid() {
		b = c.ln.phaseStd(g)
	}
	return math.Sqrt(a*a + b*b)
}

// correct returns the whole-frame step that cancels e, records where the
// moved frames sit in the ring so later measurements see the new latency,
// and holds the loop until the reader has passed the frames written before.
func (c *Controller) correct(in Input, x, e, ff float64) int {
	n := int(math.Round(-e))
	if n > 0 {
		// n frames of silence at Written carry the positions just before x.
		c.pos.add(in.Written, x-float64(n)/ff)
		c.pos.add(in.Written+uint64(n), x)
	} else if n < 0 {
		// The next -n output frames are withheld: the next frame written
		// comes from further on.
		c.pos.add(in.Written, x+float64(-n)/ff)
	}
	c.hold = true
	c.holdW = in.Written
	c.trimLeft, c.trimK, c.trimPending = 0, trimPeriods, true
	c.lastAlign = in.Time
	return n
}

// loop advances the phase loop by dt seconds with error e (graph frames).
func (c *Controller) loop(e, dt float64) {
	if !c.loopInit {
		// Start from zero: the smoothers then bring the error in over
		// 1/(8ω) seconds instead of stepping the ratio by 2ω·e.
		c.e1, c.e2 = 0, 0
		c.loopInit = true
		return
	}
	if dt <= 0 || dt > 1 {
		return
	}
	// The loop frequency: Config.Bandwidth, or narrower when the graph
	// clock's published times wander, so that the wander σ (frames) moves
	// the ratio by at most wanderPPM: 2ω·σ/rate <= wanderPPM. It moves to
	// a new value over bandwidthTau so the ratio does not jump with it.
	w := 2 * math.Pi * c.cfg.Bandwidth
	if c.ln.valid() {
		sigma := c.ln.wander() * c.cfg.GraphRate
		w = math.Min(w, wanderPPM*1e-6*c.cfg.GraphRate/(2*sigma))
	}
	if c.w == 0 {
		c.w = w
	}
	c.w += (1 - math.Exp(-dt/bandwidthTau)) * (w - c.w)
	w = c.w
	// Smoothers at 8× the loop frequency: they take the measurement noise
	// out of the ratio and cost about 14° of phase margin each.
	a := 1 - math.Exp(-8*w*dt)
	c.e1 += a * (e - c.e1)
	c.e2 += a * (c.e1 - c.e2)
	// The integral is kept as the ratio correction it makes, so a change
	// of ω does not move it.
	c.integ += w * w * c.e2 * dt / c.cfg.GraphRate
	// Anti-windup: the integral alone never asks for more than the clamp.
	c.integ = math.Min(c.cfg.MaxDeviation, math.Max(-c.cfg.MaxDeviation, c.integ))
}

// correction is the phase loop's fractional ratio correction: PI with
// ζ = 1 on the smoothed error. The plant is an integrator of gain
// GraphRate (a ratio off by ε moves the queue ε·rate frames per second).
func (c *Controller) correction() float64 {
	return 2*c.w*c.e2/c.cfg.GraphRate + c.integ
}

// wanderPPM bounds the ratio movement the sink's timestamp wander may
// cause through the loop's proportional path; bandwidthTau is the time
// constant with which the loop frequency follows the measured wander, s.
const (
	wanderPPM    = 0.05
	bandwidthTau = 10.0
)

// jitterFloor is the least timestamp noise either clock filter assumes, s.
// Server-filtered cycle times look smooth from one cycle to the next but
// wander by a µs or so over their DLL's second-long memory (and are
// quantised to 1 µs); believing them better than this would let that
// wander through as ppm-sized rate noise.
//
// sinkFloor is the same for the sink's cycle times: a JACK-style DLL's
// output wanders slowly, which a clock filter sees as coloured noise; the
// simulation settles best when the filter treats it as 10 µs of white
// noise.
const (
	jitterFloor = 5e-6
	sinkFloor   = 10e-6
)

// ratioSmooth is the time constant of each of the two one-pole smoothers
// the ratio passes last, s. The clock estimators correct their rate a
// little at every interrupt; as steps those would be heard as wow, so they
// are spread over half a second. The lag this adds on a clock that ramps is
// put back from the estimated ramp.
const ratioSmooth = 0.15

// sinkSettle: graph positions before this many seconds of the server's
// run are not used for the line (its DLL is still converging).
const sinkSettle = 2.5

// trimPeriods is the length of the phase trim pulse, device periods: 20
// of 256 frames (107 ms) take half a frame out at a peak ratio offset of
// 2·0.5/5120 = 195 ppm (a third of a cent), once, at lock or right after a
// step that is heard anyway; 0.1 s later the ratio is the loop's again.
const trimPeriods = 20

// trimMin is the least error at lock worth a trim, graph frames.
const trimMin = 0.1

// sinkSlewPPM is the fastest the graph clock's rate in the feed-forward
// moves once locked, ppm per second. A frequency gliding at ρ ppm/s
// leaves a quadratic phase that a sine fitted over 100 ms misses by about
// π·f·ρ·T²/13: at 1 kHz -113 dB for 1 ppm/s, -127 dB at 0.2.
// A young line's estimate converges faster than that (its error falls as
// T^-1.5, so it moves as T^-2.5): the limit is sinkSlewYoung ppm/s at a
// span of lockSpan seconds (the line's span at the latest lock), falling
// as T^-2.5 to sinkSlewPPM.
const (
	sinkSlewPPM   = 0.2
	sinkSlewYoung = 2.0
)

// lockSpan is the longest the graph clock's line is measured before the
// controller locks, s. A line on raw wake-ups of a server that has just
// started (its first cycle within youngServer seconds of the server's
// start) begins at the first cycle instead of sinkSettle later, and its
// rate early is what the wake-ups' lower edge says while the server and
// its clients start up, which still moves by ppm (on this VM 0.5 to 13
// ppm off at 5 s, still 5 at 8 s; a 3 s line was up to 34 ppm off): it
// is measured for lockSpanEdge (TestReplayYoungJACK: at 8.5 s one of six
// real jackd servers left a recording from 10 to 40 s 1.4 ppm off and the
// queue 3.8 frames off its target, at 9.5 s none over 0.43 ppm and 1.03
// frames; see doc.go). A rate off by ε at lock leaves the queue
// ε²/(2·sinkSlewPPM) off by the time the feed-forward has glided to the
// truth, which the narrow loop then takes minutes to put back.
const (
	lockSpan     = 3.0
	lockSpanEdge = 9.5
	slewSpanEdge = 4.5
	youngServer  = 10.0
)

// minLockSpan is the span the graph clock's line must have before the
// controller locks: none, or lockSpanEdge for a young server's wake-ups
// (which then lock there at the latest, as lockSpanEdge > lockSpan).
func (c *Controller) minLockSpan() float64 {
	if c.youngEdge() {
		return lockSpanEdge
	}
	return 0
}

// slewSpan is the span at which the feed-forward's graph rate may glide
// at sinkSlewYoung: lockSpan, or slewSpanEdge for a young server's
// wake-ups. Tied to lockSpanEdge instead, the limit was still 1.3 ppm/s
// at 10 s, and a jackd sine recorded from 10 s had windows at -110 dB;
// at 5.5 it was 0.4 ppm/s at 10.8 s, windows -117.5 to -119.6 dB in 4 of
// 7 runs; at 4.5, 0.22 ppm/s there and no window above -121.6 dB in 5
// (the replayed traces' figures did not move).
func (c *Controller) slewSpan() float64 {
	if c.youngEdge() {
		return slewSpanEdge
	}
	return lockSpan
}

// youngEdge reports whether the graph clock's line is on the wake-ups of
// a server that had run for less than youngServer at its first cycle.
func (c *Controller) youngEdge() bool {
	return c.ln.edge && float64(c.ln.f0) < youngServer*c.cfg.GraphRate
}

// snapScale sets the clock filters' process noise from Config.DriftRate:
// the jerk (the drift's rate of change) random-walks by 2·slope/60 s per
// minute, times snapScale. Tuned on the simulation: 5 ppm/min sine ramps
// at 20 µs jitter are followed with the least rate error at 0.03 (0.08
// ppm RMS device rate; 1 gives 0.18, 0.001 lags the turns to 0.18).
const snapScale = 0.03

// sinkQ scales the sink filter's process noise against the device's. The
// graph clock (a sound card, or the system clock behind a dummy driver) is
// an undisturbed crystal whose cycle times the server has filtered
// already; its filter may average longer, which takes ~0.03 ppm off the
// ratio noise. A graph clock drifting a tenth as fast as DriftRate is
// still followed without lag worth measuring.
const sinkQ = 0.1

// The device clock runs twice: dev with the process noise DriftRate
// asks for, slow with slowQ of it. A clock that drifts as fast as the
// issue's ramps (5 ppm/min) needs dev's short memory; a steady one is
// measured better by a memory ten times longer (at 1 ms of latency the
// rate's error halves: 0.09 to 0.045 ppm RMS). Which one the clock is,
// the stamps say: each filter's curve is measured against the stamps'
// lower hull every block (clock.fit), and a slow filter that lags a ramp
// misses the hull by ten to seventy times dev's mean square, a steady
// one by about the same (0.65-1.2 over an hour). The feed-forward takes
// the slow filter's rate while its miss is under slowTrust times dev's,
// dev's above slowDoubt times, and blends in between (slowTarget,
// updateSlow).
const (
	slowQ     = 0.01
	slowTrust = 1.5
	slowDoubt = 3
	slowFits  = 64 // hull blocks (22 s) each filter is measured over first
	slowRise  = 30 // s for the slow filter's share to grow from 0 to 1
	slowFall  = 2  // s for it to fall from 1 to 0
)

// slowTarget is the share of the slow filter in the device rate that
// the hull fits ask for: 0 unless most stamps are arrivals (mixedLate;
// brackets have no edge for a hull to find, and the hull of a few
// arrivals among them says nothing) and both filters have been measured
// over slowFits blocks.
func (c *Controller) slowTarget() float64 {
	d, s := &c.dev, &c.slow
	if !s.valid() || d.lateFrac < mixedLate || d.nfit < slowFits || s.nfit < slowFits || !(d.fit > 0) {
		return 0
	}
	return math.Min(1, math.Max(0, (slowDoubt-s.fit/d.fit)/(slowDoubt-slowTrust)))
}

// updateSlow moves the slow filter's share toward slowTarget after a
// measurement dt seconds after the last: down within slowFall (the slow
// filter lags; at once, the rate would step by the filters' difference,
// which a 100 ms window of the sine shows), up over slowRise (a ramp's
// turn makes a lagging filter look right for a few seconds).
func (c *Controller) updateSlow(dt float64) {
	w := c.slowTarget()
	if !(dt > 0) {
		return
	}
	if w < c.wSlow {
		c.wSlow = math.Max(w, c.wSlow-dt/slowFall)
		return
	}
	c.wSlow = math.Min(w, c.wSlow+dt/slowRise)
}

// devP is the device clock's seconds per nominal second for the
// feed-forward: dev's and slow's, as wSlow shares them.
func (c *Controller) devP() float64 {
	w := c.wSlow
	return w*c.slow.p + (1-w)*c.dev.p
}

// devA is the device clock's drift, shared as devP.
func (c *Controller) devA() float64 {
	w := c.wSlow
	return w*c.slow.a + (1-w)*c.dev.a
}

func (c *Controller) smooth(r, dt float64) float64 {
	if !c.rInit || c.state == Waiting {
		c.r1, c.r2, c.rInit = r, r, true
		return r
	}
	if dt > 0 && dt < 1 {
		a := 1 - math.Exp(-dt/ratioSmooth)
		c.r1 += a * (r - c.r1)
		c.r2 += a * (c.r1 - c.r2)
	}
	// Two poles lag a ramp by 2τ; the ratio's ramp is the clocks' drift
	// difference (p_dev/p_snk)' = (a_dev - a_snk) to first order.
	lead := 0.0
	if c.dev.valid() && c.snkValid() {
		// The line holds the graph clock's rate constant: only the
		// device's drift ramps.
		snkA := 0.0
		if !c.ln.valid() {
			snkA = c.snk.a
		}
		lead = c.nominal * (c.devA() - snkA) * 2 * ratioSmooth
	}
	return c.r2 + lead
}
