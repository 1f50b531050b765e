package ring

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Layout constants shared with sgb_ring.h.
const (
	magic      = 0x52424753 // "SGBR"
	version    = 3
	lineSize   = 128
	headerSize = 4 * lineSize

	// MaxChannels and MaxCapacity bound what New accepts; they keep every
	// index arithmetic far from overflow.
	MaxChannels = 1024
	MaxCapacity = 1 << 26
)

// header mirrors struct sgb_ring in sgb_ring.h field by field; a test
// compares the offsets with C's offsetof.
type header struct {
	magic      uint32
	version    uint32
	channels   uint32
	capacity   uint32
	dataOffset uint64
	stride     uint64
	size       uint64
	_          [lineSize - 40]byte

	head      uint64
	startFill uint64
	_         [lineSize - 16]byte

	tail           uint64
	headCache      uint64
	running        uint64
	underrunEvents uint64
	underrunFrames uint64
	reads          uint64
	_              [lineSize - 48]byte

	seq    uint64
	timing timing
	_      [lineSize - 8 - 72]byte
}

// timing mirrors struct sgb_timing.
type timing struct {
	cycleNs  int64
	nextNs   int64
	periodNs uint64 // float64 bits
	frames   uint64
	nframes  uint32
	rate     uint32
	readPos  uint64
	cycle    uint64
	underrun uint64 // underrun_frames as of readPos
	wakeNs   int64
}

// Ring is the producer's handle on one ring. Write, WriteSilence, Fill,
// Free, Written and SetStartFill belong to a single producer goroutine; the
// statistics and Timing may be read from any goroutine.
type Ring struct {
	mem      []byte
	h        *header
	data     [][]float32 // per channel, Capacity long, inside mem
	channels int
	capacity uint64
	mask     uint64
	locked   bool

	head      uint64 // producer's own copy of h.head
	tailCache uint64 // producer's last view of h.tail
}

// Stats are the consumer's counters.
type Stats struct {
	UnderrunEvents uint64 // cycles that found fewer frames than they needed
	UnderrunFrames uint64 // frames replaced by silence in those cycles
	Reads          uint64 // consumer cycles, pre-fill included
}

// Timing is one sink cycle as the consumer published it. Times are
// CLOCK_MONOTONIC nanoseconds.
type Timing struct {
	CycleStart int64   // filtered start of the cycle
	NextStart  int64   // filtered start of the next cycle
	Period     float64 // filtered period, nanoseconds
	Frames     uint64  // graph frame counter at cycle start
	NFrames    uint32  // frames in the cycle
	Rate       uint32  // graph rate, Hz
	ReadPos    uint64  // ring frames consumed before this cycle's read
	Cycle      uint64  // cycles published so far, 1 for the first
	// UnderrunFrames is the silence the consumer gave for missing frames
	// before this cycle (Stats.UnderrunFrames as of ReadPos).
	UnderrunFrames uint64
	// Wake is when the consumer's cycle began running, raw (not
	// filtered), or 0 when the sink does not say: JACK's sink gives it,
	// because its published times are the server's DLL output.
	Wake int64
}

// New maps a ring of channels planar regions whose capacity is the next
// power of two >= minFrames. The memory is locked when the system allows it
// (see Locked) and touched before New returns.
func New(channels, minFrames int) (*Ring, error) {
	if channels < 1 || channels > MaxChannels {
		return nil, fmt.Errorf("ring: %d channels, want 1..%d", channels, MaxChannels)
	}
	if minFrames < 1 || minFrames > MaxCapacity {
		return nil, fmt.Errorf("ring: %d frames, want 1..%d", minFrames, MaxCapacity)
	}
	capacity := uint64(1) << bits.Len64(uint64(minFrames-1))
	// Round each region to a cache line so channels never share one.
	stride := (capacity*4 + lineSize - 1) &^ (lineSize - 1)
	page := uint64(unix.Getpagesize())
	size := (headerSize + uint64(channels)*stride + page - 1) &^ (page - 1)

	mem, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("ring: mmap %d bytes: %w", size, err)
	}
	// Best effort: RLIMIT_MEMLOCK is often 8 MiB for users; the engine
	// reports an unlocked ring once rather than refusing to run.
	locked := unix.Mlock(mem) == nil
	for i := uint64(0); i < size; i += page {
		mem[i] = 0 // pre-touch: fault every page in now, not in the callback
	}

	r := &Ring{
		mem:      mem,
		h:        (*header)(unsafe.Pointer(&mem[0])),
		data:     make([][]float32, channels),
		channels: channels,
		capacity: capacity,
		mask:     capacity - 1,
		locked:   locked,
	}
	for c := range r.data {
		p := unsafe.Pointer(&mem[headerSize+uint64(c)*stride])
		r.data[c] = unsafe.Slice((*float32)(p), capacity)
	}
	h := r.h
	h.version = version
	h.channels = uint32(channels)
	h.capacity = uint32(capacity)
	h.dataOffset = headerSize
	h.stride = stride
	h.size = size
	atomic.StoreUint32(&h.magic, magic) // last: the header is complete
	return r, nil
}

// Close unmaps the ring. The consumer must have stopped using it.
func (r *Ring) Close() error {
	if r.mem == nil {
		return errors.New("ring: already closed")
	}
	mem := r.mem
	r.mem, r.h, r.data = nil, nil, nil
	if err := unix.Munmap(mem); err != nil {
		return fmt.Errorf("ring: munmap: %w", err)
	}
	return nil
}

// Channels is the number of planar channels.
func (r *Ring) Channels() int { return r.channels }

// Capacity is the ring size in frames, a power of two.
func (r *Ring) Capacity() int { return int(r.capacity) }

// Locked reports whether the ring's memory is locked in RAM.
func (r *Ring) Locked() bool { return r.locked }

// Header is the address of the C struct sgb_ring, for sinks. It stays
// valid until Close.
func (r *Ring) Header() unsafe.Pointer { return unsafe.Pointer(r.h) }

// free returns the free frames, refreshing the cached tail only when the
// cached view is not enough for want.
func (r *Ring) free(want uint64) uint64 {
	free := r.capacity - (r.head - r.tailCache)
	if free < want {
		r.tailCache = atomic.LoadUint64(&r.h.tail)
		free = r.capacity - (r.head - r.tailCache)
	}
	return free
}

// Write appends frames frames of planar[c][:frames] for every channel and
// returns how many fit; it never blocks and never allocates. planar must
// hold at least Channels slices.
func (r *Ring) Write(planar [][]float32, frames int) int {
	if frames <= 0 {
		return 0
	}
	n := min(uint64(frames), r.free(uint64(frames)))
	off := r.head & r.mask
	first := min(n, r.capacity-off)
	for c, dst := range r.data {
		src := planar[c][:n]
		copy(dst[off:], src[:first])
		copy(dst, src[first:])
	}
	r.publish(n)
	return int(n)
}

// WriteSilence appends up to frames frames of zeros and returns how many
// fit.
func (r *Ring) WriteSilence(frames int) int {
	if frames <= 0 {
		return 0
	}
	n := min(uint64(frames), r.free(uint64(frames)))
	off := r.head & r.mask
	first := min(n, r.capacity-off)
	for _, dst := range r.data {
		clear(dst[off : off+first])
		clear(dst[:n-first])
	}
	r.publish(n)
	return int(n)
}

func (r *Ring) publish(n uint64) {
	r.head += n
	// sync/atomic stores are sequentially consistent, so the copies above
	// are visible to the consumer's acquire load of head.
	atomic.StoreUint64(&r.h.head, r.head)
}

// Fill is the number of frames the consumer can read now.
func (r *Ring) Fill() int {
	r.tailCache = atomic.LoadUint64(&r.h.tail)
	return int(r.head - r.tailCache)
}

// Free is the number of frames Write can accept now.
func (r *Ring) Free() int { return int(r.capacity) - r.Fill() }

// Written is the producer index: frames written since New.
func (r *Ring) Written() uint64 { return atomic.LoadUint64(&r.h.head) }

// ReadPos is the consumer index: frames consumed since New.
func (r *Ring) ReadPos() uint64 { return atomic.LoadUint64(&r.h.tail) }

// SetStartFill sets the fill at which the consumer leaves the start-up
// pre-fill and begins reading (and counting underruns). 0 means 1: start
// on the first frame.
func (r *Ring) SetStartFill(n int) {
	atomic.StoreUint64(&r.h.startFill, uint64(max(n, 0)))
}

// Running reports whether the consumer has passed the start threshold.
func (r *Ring) Running() bool { return atomic.LoadUint64(&r.h.running) != 0 }

// Stats returns the consumer's counters.
func (r *Ring) Stats() Stats {
	return Stats{
		UnderrunEvents: atomic.LoadUint64(&r.h.underrunEvents),
		UnderrunFrames: atomic.LoadUint64(&r.h.underrunFrames),
		Reads:          atomic.LoadUint64(&r.h.reads),
	}
}

// Timing returns the last published sink cycle. ok is false before the
// first cycle, or when no consistent snapshot could be taken because the
// writer kept it busy (retry later).
func (r *Ring) Timing() (t Timing, ok bool) {
	h := r.h
	for try := 0; try < 100; try++ {
		s := atomic.LoadUint64(&h.seq)
		if s == 0 {
			return Timing{}, false
		}
		if s&1 == 0 {
			t = Timing{
				CycleStart:     atomic.LoadInt64(&h.timing.cycleNs),
				NextStart:      atomic.LoadInt64(&h.timing.nextNs),
				Period:         math.Float64frombits(atomic.LoadUint64(&h.timing.periodNs)),
				Frames:         atomic.LoadUint64(&h.timing.frames),
				NFrames:        atomic.LoadUint32(&h.timing.nframes),
				Rate:           atomic.LoadUint32(&h.timing.rate),
				ReadPos:        atomic.LoadUint64(&h.timing.readPos),
				Cycle:          atomic.LoadUint64(&h.timing.cycle),
				UnderrunFrames: atomic.LoadUint64(&h.timing.underrun),
				Wake:           atomic.LoadInt64(&h.timing.wakeNs),
			}
			if atomic.LoadUint64(&h.seq) == s {
				return t, true
			}
		}
		if try >= 10 {
			// The writer is descheduled mid-write; let it run.
			runtime.Gosched()
		}
	}
	return Timing{}, false
}
