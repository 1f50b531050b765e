package ring

import (
	"math"
	"sync/atomic"
)

// Read is the Go twin of sgb_ring_read for tests and consumers written in
// Go (a simulated sink on a virtual clock): it fills dst[c][:frames] for
// every channel, nil entries skipped, and returns the frames that came from
// the ring. Pre-fill, underrun accounting and silence follow the C
// consumer exactly. Only one consumer, Go or C, may use a ring.
func (r *Ring) Read(dst [][]float32, frames int) int {
	if frames <= 0 {
		return 0
	}
	h := r.h
	nframes := uint64(frames)
	tail := atomic.LoadUint64(&h.tail)
	running := h.running != 0
	need := nframes
	if !running {
		need = max(atomic.LoadUint64(&h.startFill), 1)
	}
	avail := h.headCache - tail
	if avail < need {
		h.headCache = atomic.LoadUint64(&h.head)
		avail = h.headCache - tail
	}
	var n uint64
	if running || avail >= need {
		if !running {
			atomic.StoreUint64(&h.running, 1)
		}
		n = min(avail, nframes)
		off := tail & r.mask
		first := min(n, r.capacity-off)
		for c, src := range r.data {
			if dst[c] == nil {
				continue
			}
			copy(dst[c][:first], src[off:])
			copy(dst[c][first:n], src)
		}
		if n < nframes {
			atomic.StoreUint64(&h.underrunEvents, h.underrunEvents+1)
			atomic.StoreUint64(&h.underrunFrames, h.underrunFrames+nframes-n)
		}
		atomic.StoreUint64(&h.tail, tail+n)
	}
	if n < nframes {
		for c := range r.data {
			if dst[c] != nil {
				clear(dst[c][n:nframes])
			}
		}
	}
	atomic.StoreUint64(&h.reads, h.reads+1)
	return int(n)
}

// Restart is the Go twin of sgb_ring_restart: the consumer drops all
// queued frames and waits for the start fill again. Like Read it belongs
// to the ring's one consumer.
func (r *Ring) Restart() {
	h := r.h
	head := atomic.LoadUint64(&h.head)
	h.headCache = head
	atomic.StoreUint64(&h.running, 0)
	atomic.StoreUint64(&h.tail, head)
}

// PublishTiming is the Go twin of sgb_ring_publish_timing: the consumer
// publishes one cycle's timing. ReadPos and Cycle in t are ignored and
// filled in as the C writer does.
func (r *Ring) PublishTiming(t Timing) {
	h := r.h
	s := h.seq
	readPos := atomic.LoadUint64(&h.tail)
	cycle := h.timing.cycle + 1
	// Go's atomics are sequentially consistent: the odd sequence number
	// is visible before any field, the even one after all of them.
	atomic.StoreUint64(&h.seq, s+1)
	atomic.StoreInt64(&h.timing.cycleNs, t.CycleStart)
	atomic.StoreInt64(&h.timing.nextNs, t.NextStart)
	atomic.StoreUint64(&h.timing.periodNs, math.Float64bits(t.Period))
	atomic.StoreUint64(&h.timing.frames, t.Frames)
	atomic.StoreUint32(&h.timing.nframes, t.NFrames)
	atomic.StoreUint32(&h.timing.rate, t.Rate)
	atomic.StoreUint64(&h.timing.readPos, readPos)
	atomic.StoreUint64(&h.timing.cycle, cycle)
	atomic.StoreUint64(&h.timing.underrun, atomic.LoadUint64(&h.underrunFrames))
	atomic.StoreInt64(&h.timing.wakeNs, t.Wake)
	atomic.StoreUint64(&h.seq, s+2)
}
