package device

import "errors"

// Completion is what one wake-up of the interrupt loop learns: the device's
// cumulative interrupt count and the CLOCK_MONOTONIC time at which the
// interrupt was observed. Buffers complete round-robin, so the buffer that
// completed with interrupt number Count is (Count-1) mod Buffers, counted
// from the count at Start. A Count that moved by more than one since the
// previous Completion means interrupts were missed (coalesced or lost): the
// buffers in between completed too, and those not yet overwritten still
// hold their data.
type Completion struct {
	Count uint64 // interrupts since Start, cumulative; the first is 1
	// Time is when the buffer completed, CLOCK_MONOTONIC ns, as the
	// backend measured it: its interrupt's arrival, or two looks at the
	// device that bracket the completion (package stamp), which can put
	// it a few µs before the truth but never carry a wake-up's latency.
	Time int64
	// Late says Time is an arrival (the interrupt, or a wake-up that saw
	// the data), after the completion by a latency that varies and never
	// before it. False: a bracket or a prediction, unbiased.
	Late bool
}

// Grabber is a capture device whose SG ring the engine reads in place.
//
// The engine calls Start, then Wait in a loop on one locked OS thread and,
// after each Completion, reads the completed buffers through Buffer. Stop
// may be called from another goroutine; it makes a blocked Wait return
// ErrStopped. Close releases the device after Stop.
type Grabber interface {
	// Format is the stream format, fixed when the device was opened.
	Format() Format
	// Start arms the device. Completion 1 is the first buffer that
	// completed after Start and whose interrupt was taken then: a
	// period or two later (a backend may let an interrupt already
	// pending at Start only set its count base, as its time would be
	// the time of Start, not of the buffer).
	Start() error
	// Wait blocks until at least one more buffer completed.
	Wait() (Completion, error)
	// Buffer returns SG buffer i (0 <= i < Format().Buffers), BufferBytes
	// long, in native format. The slice stays valid until Close.
	Buffer(i int) []byte
	// Stop halts the device and wakes a blocked Wait.
	Stop() error
	// Close releases every resource of the device.
	Close() error
}

// ErrStopped is returned by Wait after Stop.
var ErrStopped = errors.New("device stopped")

// ErrGone is wrapped by Wait's error when the device went away (unplugged,
// driver unbound, emulator exited). A backend that can see it return says
// so through the Reopener interface.
var ErrGone = errors.New("device gone")

// Reopener is a Grabber that can wait for its device to come back after
// Wait returned an error wrapping ErrGone (a UIO device rebound, a USB card
// replugged). Reopen blocks until the device is usable again or stop
// reports true, and leaves the Grabber as if just opened: the engine calls
// Start again and the interrupt count restarts. The sink keeps running
// meanwhile; the engine fills the gap with silence.
type Reopener interface {
	Reopen(stop func() bool) error
}
