package uio

// SkewAnchor re-anchors the watch's Predictor at the newest Completion,
// ns off its stamp: what a tight stamp taken from a register written late
// leaves behind. It must run on the goroutine that calls Wait.
func SkewAnchor(d *Device, ns int64) { d.pred.Learn(d.count, d.prevTime+ns) }
