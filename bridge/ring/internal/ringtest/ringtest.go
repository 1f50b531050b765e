// Package ringtest drives the C side of package ring for its tests: C's
// view of the header layout, a C consumer (sgb_ring_read) called from Go, a
// pthread consumer that checks a counter signal, and a pthread timing
// publisher. cgo is not allowed in _test.go files, so it lives here; only
// tests import it.
package ringtest

/*
#cgo CFLAGS: -I${SRCDIR}/../.. -O2 -Wall
#cgo LDFLAGS: -lpthread
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include "sgb_ring.h"

struct field { const char *name; size_t off, size; };
#define F(n) { #n, offsetof(struct sgb_ring, n), sizeof(((struct sgb_ring *)0)->n) }
#define T(n) { "timing." #n, offsetof(struct sgb_ring, timing.n), sizeof(((struct sgb_ring *)0)->timing.n) }
static const struct field fields[] = {
	F(magic), F(version), F(channels), F(capacity), F(data_offset), F(stride), F(size),
	F(head), F(start_fill), F(tail), F(head_cache), F(running),
	F(underrun_events), F(underrun_frames), F(reads), F(seq),
	T(cycle_ns), T(next_ns), T(period_ns), T(frames), T(nframes), T(rate), T(read_pos), T(cycle),
	T(underrun_frames), T(wake_ns),
	{ "sizeof", 0, sizeof(struct sgb_ring) },
};
static int nfields(void) { return sizeof(fields) / sizeof(fields[0]); }
static const char *field_name(int i) { return fields[i].name; }
static size_t field_off(int i) { return fields[i].off; }
static size_t field_size(int i) { return fields[i].size; }

static uint32_t ring_read(void *r, float **dst, uint32_t n)
{
	return sgb_ring_read(r, (float *const *)dst, n);
}

static void ring_restart(void *r) { sgb_ring_restart(r); }

static void ring_publish(void *r, int64_t c, int64_t nx, double p, uint64_t f, uint32_t nf, uint32_t rate, int64_t wake)
{
	sgb_ring_publish_timing(r, c, nx, p, f, nf, rate, wake);
}

static int ring_valid(void *r) { return sgb_ring_valid(r); }

// counter value of frame n on channel c, as device/sim's counter signal.
static inline float counter(uint64_t n, uint32_t c)
{
	return (float)((n + 4096u * c) & ((1u << 23) - 1)) / (float)(1u << 23);
}

struct checker {
	struct sgb_ring *r;
	uint32_t nframes, check;
	uint64_t target;
	int stop;
	pthread_t thread;
	float *buf[64];
	// results
	uint64_t frames, errors, first_error, cycles, empty_cycles;
};

static void *checker_run(void *arg)
{
	struct checker *k = arg;
	uint32_t c, i, n, chans = k->r->channels;
	while (!__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE) && k->frames < k->target) {
		n = sgb_ring_read(k->r, k->buf, k->nframes);
		k->cycles++;
		if (n == 0) {
			k->empty_cycles++;
			sched_yield();
			continue;
		}
		if (!k->check) {
			__atomic_store_n(&k->frames, k->frames + n, __ATOMIC_RELAXED);
			continue;
		}
		for (c = 0; c < chans; c++) {
			for (i = 0; i < k->nframes; i++) {
				float want = i < n ? counter(k->frames + i, c) : 0.0f;
				if (k->buf[c][i] != want && k->errors++ == 0)
					k->first_error = k->frames + i;
			}
		}
		__atomic_store_n(&k->frames, k->frames + n, __ATOMIC_RELAXED);
	}
	return NULL;
}

static struct checker *checker_start(void *r, uint32_t nframes, uint64_t target, int check)
{
	struct checker *k = calloc(1, sizeof(*k));
	uint32_t c;
	if (k == NULL)
		return NULL;
	k->r = r;
	k->nframes = nframes;
	k->target = target;
	k->check = check;
	for (c = 0; c < k->r->channels && c < 64; c++)
		k->buf[c] = calloc(nframes, sizeof(float));
	if (pthread_create(&k->thread, NULL, checker_run, k) != 0) {
		free(k);
		return NULL;
	}
	return k;
}

static void checker_stop(struct checker *k)
{
	__atomic_store_n(&k->stop, 1, __ATOMIC_RELEASE);
	pthread_join(k->thread, NULL);
}

static int checker_done(struct checker *k)
{
	return __atomic_load_n(&k->frames, __ATOMIC_RELAXED) >= k->target;
}

static void checker_free(struct checker *k)
{
	for (int c = 0; c < 64; c++)
		free(k->buf[c]);
	free(k);
}

// The publisher writes cycle k's fields all derived from k, so a torn read
// shows as a mismatch between them.
struct publisher {
	struct sgb_ring *r;
	int stop;
	uint64_t count;
	pthread_t thread;
};

static void *publisher_run(void *arg)
{
	struct publisher *p = arg;
	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		uint64_t k = ++p->count;
		sgb_ring_publish_timing(p->r, (int64_t)k * 1000, (int64_t)k * 1000 + 500,
			(double)k * 0.5, k * 256, (uint32_t)k, (uint32_t)(k * 3), (int64_t)k * 1000 + 7);
	}
	return NULL;
}

static struct publisher *publisher_start(void *r)
{
	struct publisher *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->r = r;
	if (pthread_create(&p->thread, NULL, publisher_run, p) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

static uint64_t publisher_stop(struct publisher *p)
{
	uint64_t n;
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	pthread_join(p->thread, NULL);
	n = p->count;
	free(p);
	return n;
}
*/
import "C"

import (
	"errors"
	"runtime"
	"unsafe"

	"github.com/sgbridge/sgbridge/bridge/ring"
)

// Field is one field of struct sgb_ring as the C compiler lays it out.
type Field struct {
	Name      string
	Off, Size uintptr
}

// Layout lists the fields of struct sgb_ring; the entry named "sizeof"
// carries the struct size in Size.
func Layout() []Field {
	n := int(C.nfields())
	f := make([]Field, n)
	for i := range f {
		f[i] = Field{
			Name: C.GoString(C.field_name(C.int(i))),
			Off:  uintptr(C.field_off(C.int(i))),
			Size: uintptr(C.field_size(C.int(i))),
		}
	}
	return f
}

// Reader calls the C consumer sgb_ring_read from Go with output buffers in
// C memory.
type Reader struct {
	hdr  unsafe.Pointer
	dst  **C.float
	bufs [][]float32
	max  int
}

// NewReader prepares Channels output buffers of maxFrames each for rg.
func NewReader(rg *ring.Ring, maxFrames int) *Reader {
	hdr, channels := rg.Header(), rg.Channels()
	dst := (**C.float)(C.calloc(C.size_t(channels), C.size_t(unsafe.Sizeof(uintptr(0)))))
	ptrs := unsafe.Slice(dst, channels)
	r := &Reader{hdr: hdr, dst: dst, max: maxFrames}
	for c := range ptrs {
		ptrs[c] = (*C.float)(C.calloc(C.size_t(maxFrames), 4))
		r.bufs = append(r.bufs, unsafe.Slice((*float32)(unsafe.Pointer(ptrs[c])), maxFrames))
	}
	return r
}

// Read runs sgb_ring_read for n frames (n <= maxFrames).
func (r *Reader) Read(n int) int {
	if n > r.max {
		panic("ringtest: read beyond the reader's buffers")
	}
	return int(C.ring_read(r.hdr, r.dst, C.uint32_t(n)))
}

// Restart runs sgb_ring_restart.
func (r *Reader) Restart() { C.ring_restart(r.hdr) }

// Out is channel c's output buffer, in C memory.
func (r *Reader) Out(c int) []float32 { return r.bufs[c] }

// Close frees the buffers.
func (r *Reader) Close() {
	for _, p := range unsafe.Slice(r.dst, len(r.bufs)) {
		C.free(unsafe.Pointer(p))
	}
	C.free(unsafe.Pointer(r.dst))
}

// Publish runs sgb_ring_publish_timing once.
func Publish(rg *ring.Ring, cycleNs, nextNs int64, periodNs float64, frames uint64, nframes, rate uint32, wake int64) {
	C.ring_publish(rg.Header(), C.int64_t(cycleNs), C.int64_t(nextNs), C.double(periodNs),
		C.uint64_t(frames), C.uint32_t(nframes), C.uint32_t(rate), C.int64_t(wake))
}

// Valid is C's sgb_ring_valid on the ring's header: whether a C consumer
// accepts the header Go wrote (magic, version, capacity).
func Valid(rg *ring.Ring) bool { return C.ring_valid(rg.Header()) != 0 }

// Counter is the value the checker expects for frame n of channel c:
// device/sim's counter signal, ((n + 4096 c) mod 2^23) / 2^23.
func Counter(n uint64, c int) float32 {
	return float32((n+4096*uint64(c))&(1<<23-1)) / (1 << 23)
}

// Checker is a pthread consumer reading nframes per cycle as fast as it
// can until it consumed target frames or Stop.
type Checker struct{ k *C.struct_checker }

// CheckResult is what a Checker saw.
type CheckResult struct {
	Frames      uint64 // frames consumed
	Errors      uint64 // samples that differed from the counter (or from 0 after a short read)
	FirstError  uint64 // frame of the first error
	Cycles      uint64 // sgb_ring_read calls
	EmptyCycles uint64 // calls that returned nothing
}

// StartChecker starts the consumer thread; with check false it only
// consumes (for benchmarks).
func StartChecker(rg *ring.Ring, nframes int, target uint64, check bool) (*Checker, error) {
	ck := C.int(0)
	if check {
		ck = 1
	}
	k := C.checker_start(rg.Header(), C.uint32_t(nframes), C.uint64_t(target), ck)
	if k == nil {
		return nil, errors.New("ringtest: cannot start checker thread")
	}
	return &Checker{k}, nil
}

// Done reports whether the checker consumed its target.
func (c *Checker) Done() bool { return C.checker_done(c.k) != 0 }

// Stop stops and joins the thread and returns its result.
func (c *Checker) Stop() CheckResult {
	C.checker_stop(c.k)
	k := c.k
	res := CheckResult{
		Frames: uint64(k.frames), Errors: uint64(k.errors), FirstError: uint64(k.first_error),
		Cycles: uint64(k.cycles), EmptyCycles: uint64(k.empty_cycles),
	}
	C.checker_free(k)
	return res
}

// Publisher is a pthread that publishes timing as fast as it can; cycle k
// carries CycleStart k*1000, NextStart k*1000+500, Period k/2, Frames
// k*256, NFrames k and Rate 3k (all mod 2^32 where 32 bits wide).
type Publisher struct{ p *C.struct_publisher }

// StartPublisher starts the publisher thread.
func StartPublisher(rg *ring.Ring) (*Publisher, error) {
	p := C.publisher_start(rg.Header())
	if p == nil {
		return nil, errors.New("ringtest: cannot start publisher thread")
	}
	return &Publisher{p}, nil
}

// Stop joins the thread and returns the cycles it published.
func (p *Publisher) Stop() uint64 {
	n := uint64(C.publisher_stop(p.p))
	runtime.KeepAlive(p)
	return n
}
