// Package stamp times a capture device's period completions from looks
// that bracket them, for backends whose device shows its progress (an
// ALSA pointer, a DMA engine's current-buffer register) but whose
// interrupt reaches sgbridge through a thread wake-up.
//
// A wake-up is late by the scheduler's latency, and on a loaded machine
// (or a VM) that latency wanders by tens of µs over seconds: a stamp that
// carries it carries the wander into the drift controller's clock, and
// from there into the resampling ratio as wow. A backend instead wakes a
// little before the predicted completion and looks at the device back to
// back. The completion lies between the start of the last look that saw
// it pending and the end of the first that saw it done: Bracket turns
// the two looks into a stamp, µs-exact when they are µs apart. When they
// are not (the thread slept through the completion, or was preempted
// inside a look) Bracket falls back on a Predictor, which extrapolates
// from the newest tight stamp with the period measured between tight
// stamps: a prediction never feeds the next one, so a run of them cannot
// drift to the nominal rate.
package stamp
