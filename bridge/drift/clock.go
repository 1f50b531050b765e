package drift

import "math"

// clock estimates one free-running sample clock from (time, frame count)
// pairs: when frame f completes, CLOCK_MONOTONIC reads t. It is a
// three-state Kalman filter (a delay-locked loop whose gains are computed
// instead of fixed) over
//
//	t(u) = tau + p·(u - u0) + a/2·(u - u0)²,  u = frames / nominal rate,
//
// so tau is the time (s, relative to base) of the newest frame position,
// p the clock's true seconds per nominal second (1 + offset) and a its drift
// per second (a ramp). Starting from a wide prior it behaves like a
// least-squares line fit over everything seen so far, the fastest unbiased
// lock; once the estimate is better than the clock's own wander allows, the
// jerk process noise q bounds the memory and the loop narrows into a
// tracking filter whose bandwidth follows the measured timestamp jitter:
// the more jitter, the longer it averages.
//
// Timestamps that land far outside the predicted spread (a stalled reader
// timestamping interrupts late) are not used; a run of them means the
// clock really moved, and the filter starts over.
type clock struct {
	nominal float64 // frames per nominal second
	base    int64   // ns; tau is relative to it
	frames  uint64  // frame position the state refers to
	tau     float64 // s
	p       float64 // s per nominal s
	a       float64 // 1/s
	P       [3][3]float64
	q       float64 // jerk noise density, 1/s³
	a0      float64 // prior std of a, 1/s
	r       float64 // measurement noise variance, s²
	rMin    float64
	innov   float64 // running mean of squared innovations, s²
	n       int     // measurements used
	reject  int     // consecutive rejected measurements
	rejects uint64  // all rejected measurements
	resets  uint64  // starts over after a run of rejections
}

const (
	clockPriorRate = 0.05  // prior std of p: the ratio clamp's range
	rejectSigma    = 6     // innovations beyond this many sigmas are outliers
	rejectRun      = 64    // this many outliers in a row restart the filter
	innovWindow    = 1024  // measurements in the running jitter estimate
	innovStart     = 32    // measurements before the jitter is estimated
	innovClip      = 9     // squared-sigma clip on one innovation's weight
	rebaseSeconds  = 1e-3  // keep tau within this of base
	nsPerSecond    = 1e9   //
	secondsPerNs   = 1e-9  //
	minRejectFloor = 50e-6 // never call an innovation below 50 µs an outlier
)

func (c *clock) init(nominal, q, a0, jitter, rMin float64) {
	*c = clock{nominal: nominal, q: q, a0: a0, r: jitter * jitter, rMin: rMin}
}

// restart forgets the state but keeps the configuration, counters and the
// learned jitter.
func (c *clock) restart() {
	c.n = 0
	c.reject = 0
	c.resets++
}

// valid reports whether the filter has seen enough to extrapolate.
func (c *clock) valid() bool { return c.n >= 2 }

// update feeds one measurement: frame position f completed at t ns. It
// reports whether the measurement was used.
func (c *clock) update(t int64, f uint64) bool {
	if c.n == 0 {
		c.base, c.frames = t, f
		c.tau, c.p, c.a = 0, 1, 0
		c.P = [3][3]float64{{c.r, 0, 0}, {0, clockPriorRate * clockPriorRate, 0}, {0, 0, c.a0 * c.a0}}
		c.n = 1
		return true
	}
	if f < c.frames { // the count went back: a new stream
		c.restart()
		return c.update(t, f)
	}
	du := float64(f-c.frames) / c.nominal
	// Predict: F = [[1 du du²/2] [0 1 du] [0 0 1]], P = F P Fᵀ + Q.
	tau := c.tau + c.p*du + 0.5*c.a*du*du
	p := c.p + c.a*du
	P := c.P
	if du > 0 {
		h := 0.5 * du * du
		var FP [3][3]float64
		for j := 0; j < 3; j++ {
			FP[0][j] = P[0][j] + du*P[1][j] + h*P[2][j]
			FP[1][j] = P[1][j] + du*P[2][j]
			FP[2][j] = P[2][j]
		}
		for i := 0; i < 3; i++ {
			P[i][0] = FP[i][0] + du*FP[i][1] + h*FP[i][2]
			P[i][1] = FP[i][1] + du*FP[i][2]
			P[i][2] = FP[i][2]
		}
		d2, d3 := du*du, du*du*du
		q := c.q
		P[0][0] += q * d3 * d2 / 20
		P[0][1] += q * d2 * d2 / 8
		P[0][2] += q * d3 / 6
		P[1][1] += q * d3 / 3
		P[1][2] += q * d2 / 2
		P[2][2] += q * du
		P[1][0], P[2][0], P[2][1] = P[0][1], P[0][2], P[1][2]
	}
	z := float64(t-c.base) * secondsPerNs
	y := z - tau
	S := P[0][0] + c.r
	if c.n > 8 && y*y > rejectSigma*rejectSigma*S && math.Abs(y) > minRejectFloor {
		c.rejects++
		c.reject++
		if c.reject >= rejectRun {
			c.restart()
			return c.update(t, f)
		}
		// Keep the prediction so that later frames line up; the
		// measurement itself is not trusted.
		c.frames, c.tau, c.p, c.P = f, tau, p, P
		return false
	}
	c.reject = 0
	// Measurement noise: E[y²] = P00 + r, so average y² - P00 (clipped so
	// one late timestamp cannot inflate it). Only once the state explains
	// little of y²: early on P00 dwarfs r and the difference is noise, so
	// the configured guess holds until then.
	if c.n == innovStart {
		c.innov = c.r
	}
	if c.n >= innovStart {
		w := 1 / float64(min(c.n-innovStart+1, innovWindow))
		y2 := math.Min(y*y, innovClip*S) - P[0][0]
		c.innov += w * (y2 - c.innov)
		c.r = math.Max(c.rMin, c.innov)
		S = P[0][0] + c.r
	}
	k0, k1, k2 := P[0][0]/S, P[1][0]/S, P[2][0]/S
	c.tau = tau + k0*y
	c.p = p + k1*y
	c.a = c.a + k2*y
	r0 := [3]float64{P[0][0], P[0][1], P[0][2]}
	k := [3]float64{k0, k1, k2}
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			P[i][j] -= k[i] * r0[j]
		}
	}
	// Symmetrise against rounding.
	P[1][0], P[2][0], P[2][1] = P[0][1], P[0][2], P[1][2]
	c.P = P
	c.frames = f
	c.n++
	if math.Abs(c.tau) > rebaseSeconds {
		shift := int64(c.tau * nsPerSecond)
		c.base += shift
		c.tau -= float64(shift) * secondsPerNs
	}
	return true
}

// position returns the frame position (fractional) the clock had reached
// at t ns, by the estimated line through the newest state.
func (c *clock) position(t int64) float64 {
	dt := float64(t-c.base)*secondsPerNs - c.tau
	return float64(c.frames) + dt/c.p*c.nominal
}

// timeOf returns the time (ns, relative to base) at which frame position
// f is or was reached.
func (c *clock) timeOf(f float64) float64 {
	du := (f - float64(c.frames)) / c.nominal
	return (c.tau + c.p*du + 0.5*c.a*du*du) * nsPerSecond
}

// rateStd is the standard deviation of p, i.e. of the fractional rate.
func (c *clock) rateStd() float64 { return math.Sqrt(math.Max(c.P[1][1], 0)) }

// phaseStd is the standard deviation of the position estimate, in frames.
func (c *clock) phaseStd() float64 { return math.Sqrt(math.Max(c.P[0][0], 0)) / c.p * c.nominal }

// jitter is the measured timestamp noise, s RMS.
func (c *clock) jitter() float64 { return math.Sqrt(c.r) }
