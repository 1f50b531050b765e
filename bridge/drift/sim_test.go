package drift_test

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/sgbridge/sgbridge/bridge/drift"
)

// The simulation runs the controller on virtual time against models of
// everything around it:
//
//   - a device clock with a ppm offset and optional triangle drift ramps,
//     completing one period per interrupt; the interrupt loop's timestamps
//     are late by a latency uniform in [0, σ√12) (σ RMS: an interrupt or a
//     wake-up is never early, and the uniform law has less of its weight
//     near the least latency than real ones), or carry zero-mean Gaussian
//     jitter (clipped so they stay in order) to show a source whose stamps
//     can be early; some interrupts are lost (the next carries the count);
//     the loop stalls now and then (it wakes late once, with the whole
//     count);
//   - a sink graph on its own ppm, waking with jitter, whose server runs a
//     JACK-style second-order DLL and publishes µs-quantised cycle times;
//     some client cycles are skipped (the graph counter moves on, the read
//     position does not);
//   - an ideal resampler that integrates the ratio exactly with a fixed
//     delay, and an ideal ring with fill accounting.
//
// Truth comes from the models: the ratio that holds the queue still is
// graph rate / device rate at that instant, and the latency of the frame
// read at a cycle start is the device position then (on the interrupt
// timeline without jitter) minus the device position the frame came from.
type simConfig struct {
	name           string
	devPPM         float64   // device clock offset
	sinkPPM        float64   // graph clock offset
	rampPPMPerMin  float64   // device drift ramp slope; triangle
	rampPeriod     float64   // s, one full triangle
	rampSine       bool      // a sine of the same peak slope instead
	rampFrom       float64   // s: the clock is steady until then (0: ramps from the start)
	irqJitter      float64   // s RMS: a latency uniform in [0, irqJitter·√12)
	symmetric      bool      // irqJitter is zero-mean Gaussian instead: stamps may be early
	lateProb       float64   // per stamp: a symmetric stamp is late by up to lateMax (a device that ran late)
	lateMax        float64   // s
	burstEvery     float64   // s between bursts of arrivals among symmetric stamps (a register watch losing hold)
	burstLen       int       // stamps in a burst: arrivals late by 100-300 µs (interrupt wake-ups)
	sinkJitter     float64   // s RMS of the server's wake-up before its DLL
	sinkLate       float64   // s: instead, wake-ups late by up to this (uniform), also published raw (Sink.Wake, as JACK's sink)
	sinkWakes      []float64 // s: instead, each cycle's wake-up latency from a real server's trace (jacktrace.Wakeups.Late), published raw
	lostProb       float64   // per interrupt
	stallEvery     float64   // s between loop stalls (0: none)
	stallLen       float64   // s
	skipProb       float64   // per sink cycle
	sinkAge        float64   // s the server has run when the bridge starts (0: a minute)
	sinkStepAt     float64   // s: the graph's cycle times step by sinkStep here (0: never)
	sinkStep       float64   // s
	restartAt      float64   // s: the device returns as a new clock here (the controller is Reset, as the engine does)
	restartPPM     float64   // its offset from then on
	restartGap     float64   // s: its first completion after the restart is this much late (the time it was away)
	duration       float64   // s
	settle         float64   // s before steady-state figures count
	rate           float64
	devPeriod      int
	graphPeriod    int
	delay          float64 // resampler delay, input frames
	margin         float64 // frames of target above the minimum
	seed           uint64
	bandwidth      float64 // 0: controller default
	driftRate      float64 // 0: controller default
	keepRatioTrace bool
	traceFrom      float64 // s: print every update in [traceFrom, traceTo)
	traceTo        float64
	debug          func(t float64, out drift.Output, st drift.Stats)
	every          func(t, ratioErrPPM float64, out drift.Output, st drift.Stats) // each update, for diagnostics
}

type simResult struct {
	lockTime    float64 // s: after it |ratio error| < 1 ppm for the rest of the run
	ratioRMS    float64 // ppm RMS of ratio error after settle
	ratioMean   float64 // ppm, mean ratio error after settle: what a recording's frequency shows
	ratioMax    float64 // ppm
	stepRMS     float64 // ppm, update-to-update ratio change after settle
	stepMax     float64 // ppm
	delayRMS    float64 // frames, latency - target after settle
	delayMax    float64 // frames
	delayMean   float64
	minMargin   float64 // min over cycles of (fill at cycle start - nframes)
	maxFill     float64
	capacity    int
	underruns   int
	overflows   int
	target      float64
	updates     int
	stats       drift.Stats
	ratioTrace  []float64 // ppm error per second, when asked
	lockedState float64   // s: time the controller said Locked
	ffStepMax   float64   // ppm, largest update-to-update feed-forward change after settle
	ffRMS       float64   // ppm RMS of feed-forward error after settle
	win100Max   float64   // ppm, largest ratio change within any 100 ms after settle
	ratioMaxAt  float64   // s, when ratioMax happened
	delayMaxAt  float64   // s, when delayMax happened
	devRMS      float64   // ppm RMS of the device clock filter's rate error after settle
	snkRMS      float64   // ppm RMS of the sink clock filter's rate error after settle
	longMax     float64   // largest share of the long-memory device filter after settle
}

type simDevice struct {
	cfg     *simConfig
	rng     *rand.Rand
	k       uint64  // completions so far
	tk      float64 // ideal time of completion k
	hist    [256]float64
	stall   float64 // start of the next stall
	last    float64 // last wake stamp
	late    bool    // the last stamp is an arrival among symmetric ones
	burst   float64 // time of the next burst of arrivals
	inBurst int     // arrivals left in the current burst
	clip    float64
	rampAmp float64
	gapDone bool // the restart's gap is taken
}

func (d *simDevice) ppm(t float64) float64 {
	p := d.cfg.devPPM
	if d.cfg.restartAt > 0 && t >= simT0+d.cfg.restartAt {
		return d.cfg.restartPPM
	}
	if d.cfg.rampFrom > 0 {
		if t -= simT0 + d.cfg.rampFrom; t < 0 {
			return p
		}
	}
	if d.cfg.rampPPMPerMin != 0 {
		// Triangle between -A and +A, slope ±rampPPMPerMin.
		T := d.cfg.rampPeriod
		if d.cfg.rampSine {
			// Peak slope rampPPMPerMin: amplitude slope·T/(2π).
			return p + d.cfg.rampPPMPerMin/60*T/(2*math.Pi)*math.Sin(2*math.Pi*t/T)
		}
		ph := math.Mod(t, T) / T
		var tri float64 // -1..1
		switch {
		case ph < 0.25:
			tri = 4 * ph
		case ph < 0.75:
			tri = 2 - 4*ph
		default:
			tri = 4*ph - 4
		}
		p += d.rampAmp * tri
	}
	return p
}

func (d *simDevice) rateAt(t float64) float64 { return d.cfg.rate * (1 + d.ppm(t)*1e-6) }

func (d *simDevice) complete() {
	P := float64(d.cfg.devPeriod)
	// Midpoint rule: the rate moves by < 1e-12 within a period.
	r := d.rateAt(d.tk + 0.5*P/d.cfg.rate)
	d.tk += P / r
	if d.cfg.restartAt > 0 && !d.gapDone && d.tk >= simT0+d.cfg.restartAt {
		d.tk += d.cfg.restartGap
		d.gapDone = true
	}
	d.k++
	d.hist[d.k%uint64(len(d.hist))] = d.tk
}

// pos is the device position at ideal time t (t at most a stall behind
// the newest completion).
func (d *simDevice) pos(t float64) float64 {
	k := d.k
	for d.hist[k%uint64(len(d.hist))] > t && k > 0 && d.k-k < uint64(len(d.hist))-1 {
		k--
	}
	tk := d.hist[k%uint64(len(d.hist))]
	return float64(k)*float64(d.cfg.devPeriod) + (t-tk)*d.rateAt(tk)
}

// next returns the next wake of the interrupt loop: its timestamp and the
// device count it reads.
func (d *simDevice) next() (float64, uint64) {
	for {
		d.complete()
		stamp := d.tk
		if d.cfg.irqJitter > 0 && d.cfg.symmetric {
			j := d.rng.NormFloat64() * d.cfg.irqJitter
			stamp += math.Max(-d.clip, math.Min(d.clip, j))
		} else if d.cfg.irqJitter > 0 {
			stamp += d.rng.Float64() * d.cfg.irqJitter * math.Sqrt(12)
		}
		if d.cfg.lateProb > 0 && d.rng.Float64() < d.cfg.lateProb {
			stamp += d.rng.Float64() * d.cfg.lateMax
		}
		d.late = false
		if d.cfg.burstEvery > 0 {
			if d.burst == 0 {
				d.burst = d.tk + d.cfg.burstEvery
			}
			if d.tk >= d.burst {
				d.burst += d.cfg.burstEvery
				d.inBurst = d.cfg.burstLen
			}
			if d.inBurst > 0 {
				d.inBurst--
				stamp = d.tk + 100e-6 + d.rng.Float64()*200e-6
				d.late = true
			}
		}
		if d.cfg.stallEvery > 0 && stamp >= d.stall {
			end := d.stall + d.cfg.stallLen
			d.stall += d.cfg.stallEvery
			if stamp < end {
				// The loop was stuck: it wakes at end and reads every
				// completion up to then.
				for {
					r := d.rateAt(d.tk)
					if d.tk+float64(d.cfg.devPeriod)/r > end {
						break
					}
					d.complete()
				}
				stamp = end + 10e-6
			}
		}
		if d.cfg.lostProb > 0 && d.rng.Float64() < d.cfg.lostProb {
			continue
		}
		if stamp <= d.last {
			stamp = d.last + 1e-6
		}
		d.last = stamp
		return stamp, d.k * uint64(d.cfg.devPeriod)
	}
}

// jackDLL is the server side of the sink: a second-order DLL over its
// wake-ups, as jackd runs, publishing µs.
type jackDLL struct {
	t0, t1, per float64
	b, c        float64
	init        bool
}

func (j *jackDLL) update(w, nominal float64) {
	if !j.init {
		j.t0, j.t1, j.per = w, w+nominal, nominal
		om := 2 * math.Pi * 1.0 * nominal // 1 Hz
		j.b, j.c = math.Sqrt2*om, om*om
		j.init = true
		return
	}
	e := w - j.t1
	j.t0 = j.t1
	j.t1 += j.b*e + j.per
	j.per += j.c * e
}

// segment maps ring frames [w, w+n) to device positions x + i·step.
type segment struct {
	w, n    uint64
	x, step float64
}

type simRing struct {
	seg  [512]segment
	head int
}

func (r *simRing) add(s segment) {
	if s.n == 0 {
		return
	}
	r.head = (r.head + 1) % len(r.seg)
	r.seg[r.head] = s
}

func (r *simRing) at(w uint64) (float64, bool) {
	i := r.head
	for k := 0; k < len(r.seg); k++ {
		s := &r.seg[i]
		if w >= s.w && w < s.w+s.n {
			return s.x + float64(w-s.w)*s.step, true
		}
		i = (i - 1 + len(r.seg)) % len(r.seg)
	}
	return 0, false
}

func ns(t float64) int64 { return int64(math.Round(t * 1e9)) }

// simT0 is where the clocks start: an arbitrary CLOCK_MONOTONIC point.
const simT0 = 1234.5678

func runSim(sc simConfig) (simResult, error) {
	if sc.rate == 0 {
		sc.rate = 48000
	}
	if sc.devPeriod == 0 {
		sc.devPeriod = 256
	}
	if sc.graphPeriod == 0 {
		sc.graphPeriod = 256
	}
	if sc.delay == 0 {
		sc.delay = 40
	}
	if sc.rampPeriod == 0 {
		sc.rampPeriod = 480
	}
	rng := rand.New(rand.NewPCG(sc.seed, 0x5eed))
	dev := &simDevice{cfg: &sc, rng: rng, stall: sc.stallEvery}
	dev.clip = math.Min(4*sc.irqJitter, 0.45*float64(sc.devPeriod)/sc.rate)
	dev.rampAmp = sc.rampPPMPerMin / 60 * sc.rampPeriod / 4
	const t0 = simT0
	dev.tk = t0 + 0.0013
	for i := range dev.hist {
		dev.hist[i] = dev.tk
	}
	dev.last = dev.tk

	N := sc.graphPeriod
	sinkRate := sc.rate * (1 + sc.sinkPPM*1e-6)
	sinkPer := float64(N) / sinkRate
	nominalPer := float64(N) / sc.rate

	target := float64(sc.devPeriod) + float64(N) + sc.delay + sc.margin
	ctl, err := drift.New(drift.Config{
		DeviceRate: sc.rate, GraphRate: sc.rate,
		DevicePeriod: sc.devPeriod, GraphPeriod: N,
		Target: target, Bandwidth: sc.bandwidth, DriftRate: sc.driftRate,
	})
	if err != nil {
		return simResult{}, err
	}
	capacity := 1 << bits.Len(uint(2*(target+float64(sc.devPeriod))))

	var (
		res       = simResult{target: target, capacity: capacity, minMargin: math.Inf(1)}
		dll       jackDLL
		ring      simRing
		snap      drift.Sink
		W, R      uint64
		In        uint64
		xNext     float64 // device position of the next output frame
		ratio     = 1.0
		lastR     = math.NaN()
		lastCount uint64
		lastFF    = math.NaN()
		sumFF2    float64
		sumDev2   float64
		sumSnk2   float64
		sinkJ     uint64 // sink cycles so far
		cycles    uint64
		started   bool
		restarted bool

		nRatio, nStep, nDelay float64
		sumRatio, sumRatio2   float64
		sumStep2, sumDelay    float64
		sumDelay2             float64
		lastBad               = 0.0
		nextTrace             = 1.0
		winT                  [64]float64 // recent update times and ratios
		winR                  [64]float64
		winN                  int
	)
	sinkT := t0 + 0.0007 // ideal start of cycle 0
	sinkWake := sinkT
	if sc.sinkWakes != nil {
		sinkWake += sc.sinkWakes[0]
	}
	wake, count := dev.next()
	end := t0 + sc.duration
	for {
		if wake <= sinkWake {
			if wake > end {
				break
			}
			if dev.gapDone && !restarted { // the first interrupt of the new clock
				ctl.Reset()
				restarted = true
			}
			out := ctl.Update(drift.Input{
				Time: ns(wake), Late: !sc.symmetric || dev.late, DeviceFrames: count, Sink: snap,
				Consumed: In, Written: W, Delay: float64(In) - xNext,
			})
			res.updates++
			if sc.traceFrom > 0 && wake-t0 >= sc.traceFrom && wake-t0 < sc.traceTo {
				st := ctl.Stats()
				fmt.Printf("t=%.4f dcount=%d err=%.3f corr=%d state=%v ratioPPM=%.3f late=%d lost=%d fill=%d\n", wake-t0, (count-lastCount)/uint64(sc.devPeriod), out.Error, out.Correction, out.State, (out.Ratio*dev.rateAt(wake)/sinkRate-1)*1e6, st.LateIRQs, st.LostIRQs, W-R)
			}
			if sc.debug != nil && out.Correction != 0 {
				sc.debug(wake-t0, out, ctl.Stats())
			}
			r := out.Ratio
			if c := out.Correction; c > 0 {
				ring.add(segment{w: W, n: uint64(c), x: xNext - float64(c)/r, step: 1 / r})
				W += uint64(c)
			} else if c < 0 {
				xNext += float64(-c) / r
			}
			// Ideal resampler: every output whose source lies before the
			// newest input minus the delay.
			if avail := float64(count) - sc.delay - xNext; avail > 0 {
				n := uint64(math.Ceil(avail * r))
				ring.add(segment{w: W, n: n, x: xNext, step: 1 / r})
				W += n
				xNext += float64(n) / r
				started = true
			}
			In = count
			if fill := float64(W - R); fill > float64(capacity) {
				res.overflows++
			} else if fill > res.maxFill {
				res.maxFill = fill
			}
			// Ratio truth.
			t := wake - t0
			truth := sinkRate / dev.rateAt(wake)
			e := (r/truth - 1) * 1e6
			if math.Abs(e) >= 1 && t < sc.settle {
				lastBad = t
			}
			if out.State == drift.Locked && res.lockedState == 0 {
				res.lockedState = t
			}
			if t >= sc.settle {
				nRatio++
				sumRatio += e
				sumRatio2 += e * e
				if math.Abs(e) > res.ratioMax {
					res.ratioMax, res.ratioMaxAt = math.Abs(e), t
				}
				ff := drift.FeedForward(ctl)
				fe := (ff/truth - 1) * 1e6
				sumFF2 += fe * fe
				dp, sp := drift.ClockPPM(ctl)
				de, se := dp-dev.ppm(wake), sp-sc.sinkPPM
				sumDev2 += de * de
				sumSnk2 += se * se
				res.longMax = math.Max(res.longMax, ctl.Stats().LongMemory)
				if !math.IsNaN(lastFF) {
					res.ffStepMax = math.Max(res.ffStepMax, math.Abs(ff-lastFF)*1e6)
				}
				lastFF = ff
				// Largest change against any ratio of the last 100 ms.
				for k := 1; k <= len(winT) && k <= winN; k++ {
					j := (winN - k) % len(winT)
					if t-winT[j] > 0.1 {
						break
					}
					res.win100Max = math.Max(res.win100Max, math.Abs(r-winR[j])*1e6)
				}
				winT[winN%len(winT)], winR[winN%len(winT)] = t, r
				winN++
				if !math.IsNaN(lastR) {
					// Per device period: after a stall or a lost
					// interrupt one update spans several.
					periods := math.Max(1, float64(count-lastCount)/float64(sc.devPeriod))
					s := (r - lastR) * 1e6 / periods
					nStep++
					sumStep2 += s * s
					res.stepMax = math.Max(res.stepMax, math.Abs(s))
				}
			}
			if sc.every != nil {
				sc.every(t, e, out, ctl.Stats())
			}
			if sc.keepRatioTrace && t >= nextTrace {
				res.ratioTrace = append(res.ratioTrace, e)
				nextTrace++
			}
			lastR = r
			lastCount = count
			ratio = r
			wake, count = dev.next()
			continue
		}
		// Sink cycle: the server's DLL sees the wake; the client runs
		// unless this cycle is skipped.
		curWake := sinkWake
		dll.update(sinkWake, nominalPer)
		// The server has been running for a minute when the bridge
		// starts (unless sinkAge says otherwise): its DLL has settled.
		age := 60.0
		if sc.sinkAge > 0 {
			age = sc.sinkAge
		}
		frames := sinkJ*uint64(N) + uint64(age*sc.rate)
		sinkJ++
		sinkT += sinkPer
		if sc.sinkStepAt > 0 && sinkT-t0 >= sc.sinkStepAt {
			// The graph's timeline steps (a driver re-anchoring its
			// time after a stall); the frame counter goes on.
			sinkT += sc.sinkStep
			sc.sinkStepAt = 0
		}
		sinkWake = sinkT
		if sc.sinkWakes != nil {
			sinkWake += sc.sinkWakes[min(sinkJ, uint64(len(sc.sinkWakes)-1))]
		} else if sc.sinkLate > 0 {
			sinkWake += rng.Float64() * sc.sinkLate
		} else if sc.sinkJitter > 0 {
			sinkWake += rng.NormFloat64() * sc.sinkJitter
		}
		if sc.skipProb > 0 && rng.Float64() < sc.skipProb {
			continue
		}
		fill := W - R
		if started {
			res.minMargin = math.Min(res.minMargin, float64(fill)-float64(N))
		}
		if x, ok := ring.at(R); ok && fill >= uint64(N) && sinkWake-t0 >= sc.settle {
			// Latency truth at the ideal cycle start.
			ts := sinkT - sinkPer
			lat := (dev.pos(ts) - x) * sinkRate / dev.rateAt(ts)
			d := lat - target
			nDelay++
			sumDelay += d
			sumDelay2 += d * d
			if math.Abs(d) > res.delayMax {
				res.delayMax, res.delayMaxAt = math.Abs(d), sinkWake-t0
			}
		}
		cycles++
		snap = drift.Sink{
			CycleStart: ns(math.Round(dll.t0*1e6) / 1e6),
			NextStart:  ns(math.Round(dll.t1*1e6) / 1e6),
			Period:     dll.per * 1e9,
			Frames:     frames,
			NFrames:    uint32(N),
			Rate:       uint32(sc.rate),
			ReadPos:    R,
			Cycle:      cycles,
		}
		if sc.sinkLate > 0 || sc.sinkWakes != nil {
			snap.Wake = ns(curWake)
		}
		if fill >= uint64(N) {
			R += uint64(N)
		} else {
			if started {
				res.underruns++
			}
			R += fill
		}
	}
	_ = ratio
	res.lockTime = lastBad
	if nRatio > 0 {
		res.ratioRMS = math.Sqrt(sumRatio2 / nRatio)
		res.ratioMean = sumRatio / nRatio
		res.ffRMS = math.Sqrt(sumFF2 / nRatio)
		res.devRMS = math.Sqrt(sumDev2 / nRatio)
		res.snkRMS = math.Sqrt(sumSnk2 / nRatio)
	}
	if nStep > 0 {
		res.stepRMS = math.Sqrt(sumStep2 / nStep)
	}
	if nDelay > 0 {
		res.delayMean = sumDelay / nDelay
		res.delayRMS = math.Sqrt(sumDelay2 / nDelay)
	}
	res.stats = ctl.Stats()
	return res, nil
}
