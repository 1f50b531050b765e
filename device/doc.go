// Package device owns what sgbridge knows about a capture device that runs on
// its own clock: the stream format, the Grabber interface every backend
// implements, the view of a scatter-gather ring of discontiguous buffers
// (one contiguous virtual map where the buffers allow it, a list of slices
// otherwise), the conversion of native samples to float32 planar, and the
// registry that turns a --device string into a Grabber.
//
// Backends live in sub-packages (sim, uio, portaudio) and register
// themselves; the engine in package bridge only sees Grabber.
package device
