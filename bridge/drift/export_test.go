package drift

// FeedForward exposes the measured clock-rate ratio for the simulation's
// diagnostics.
func FeedForward(c *Controller) float64 { return c.ff }
