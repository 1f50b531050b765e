package drift

// FeedForward exposes the measured clock-rate ratio for the simulation's
// diagnostics.
func FeedForward(c *Controller) float64 { return c.ff }

// ClockPPM exposes each clock's rate estimate, ppm vs CLOCK_MONOTONIC.
func ClockPPM(c *Controller) (dev, snk float64) {
	return (1/c.devP() - 1) * 1e6, (1/c.snk.p - 1) * 1e6
}
