/* sgb_ring.h: the consumer side of sgbridge's SPSC float32 ring.
 *
 * The ring lives in one anonymous mapping owned by the Go producer
 * (package ring): a 512 byte header followed by `channels` planar regions of
 * `capacity` float32 each. The producer advances `head`, the consumer
 * advances `tail`; both are free-running 64-bit frame counts, so
 * fill = head - tail and the slot of frame n is n & (capacity - 1).
 *
 * Each of the four parts of the header sits on its own 128 byte line
 * (two 64 byte lines on x86, so the adjacent-line prefetcher does not pair a
 * producer line with a consumer line). The Go side mirrors this layout in
 * package ring and a test compares both.
 *
 * Go cannot see _Atomic fields, so the fields are plain integers and every
 * shared access here goes through __atomic builtins; Go uses sync/atomic on
 * the same 8-byte aligned words.
 *
 * Everything here is real-time safe: no allocation, no locks, no syscalls.
 */
#ifndef SGB_RING_H
#define SGB_RING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SGB_RING_MAGIC   0x52424753u /* "SGBR" little endian */
#define SGB_RING_VERSION 3u
#define SGB_RING_LINE    128

/* One sink cycle as the graph saw it; published by the consumer through the
 * seqlock in the header for the drift controller. Times are CLOCK_MONOTONIC
 * nanoseconds. */
struct sgb_timing {
	int64_t  cycle_ns;  /* filtered start of this cycle */
	int64_t  next_ns;   /* filtered start of the next cycle */
	double   period_ns; /* filtered period */
	uint64_t frames;    /* graph frame counter at cycle start */
	uint32_t nframes;   /* frames in this cycle */
	uint32_t rate;      /* graph rate, Hz */
	uint64_t read_pos;  /* ring frames consumed before this cycle's read */
	uint64_t cycle;     /* cycles published so far, 1 for the first */
	uint64_t underrun_frames; /* the ring's underrun_frames as of read_pos */
	int64_t  wake_ns;   /* when the consumer's cycle began running, 0 = not known */
};

struct sgb_ring {
	/* constant after creation (written by Go before the consumer starts) */
	uint32_t magic;
	uint32_t version;
	uint32_t channels;
	uint32_t capacity;    /* frames, a power of two */
	uint64_t data_offset; /* bytes from the header to channel 0 */
	uint64_t stride;      /* bytes from one channel region to the next */
	uint64_t size;        /* bytes of the whole mapping */
	uint8_t  _pad0[SGB_RING_LINE - 40];

	/* producer line: written by Go only */
	uint64_t head;        /* frames written, free running */
	uint64_t start_fill;  /* fill at which the consumer starts (min 1) */
	uint8_t  _pad1[SGB_RING_LINE - 16];

	/* consumer line: written by the consumer only */
	uint64_t tail;            /* frames consumed, free running */
	uint64_t head_cache;      /* consumer's last view of head */
	uint64_t running;         /* 1 once fill first reached start_fill */
	uint64_t underrun_events; /* cycles that found fill < nframes */
	uint64_t underrun_frames; /* frames replaced by silence */
	uint64_t reads;           /* calls to sgb_ring_read */
	uint8_t  _pad2[SGB_RING_LINE - 48];

	/* timing seqlock: written by the consumer only */
	uint64_t seq; /* odd while a write is in progress, 0 = none yet */
	struct sgb_timing timing;
	uint8_t  _pad3[SGB_RING_LINE - 8 - sizeof(struct sgb_timing)];
};

_Static_assert(sizeof(struct sgb_timing) == 72, "sgb_timing layout");
_Static_assert(offsetof(struct sgb_ring, head) == 1 * SGB_RING_LINE, "head line");
_Static_assert(offsetof(struct sgb_ring, tail) == 2 * SGB_RING_LINE, "tail line");
_Static_assert(offsetof(struct sgb_ring, seq) == 3 * SGB_RING_LINE, "seq line");
_Static_assert(sizeof(struct sgb_ring) == 4 * SGB_RING_LINE, "header size");

static inline float *sgb_ring_channel(struct sgb_ring *r, uint32_t c)
{
	return (float *)((uint8_t *)r + r->data_offset + (uint64_t)c * r->stride);
}

static inline int sgb_ring_valid(const struct sgb_ring *r)
{
	return r != NULL && r->magic == SGB_RING_MAGIC &&
		r->version == SGB_RING_VERSION && r->capacity != 0 &&
		(r->capacity & (r->capacity - 1)) == 0;
}

/* Frames the consumer could read now. */
static inline uint64_t sgb_ring_fill(struct sgb_ring *r)
{
	return __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) -
		__atomic_load_n(&r->tail, __ATOMIC_RELAXED);
}

/* sgb_ring_read copies nframes per channel into dst[0..channels-1] (a NULL
 * entry skips that channel) and returns the frames that came from the ring.
 * Before the ring first holds start_fill frames it outputs silence and
 * counts nothing: that is the start-up pre-fill. Once running, a short ring
 * gives what it has followed by silence, and counts one underrun event and
 * the missing frames. */
static inline uint32_t sgb_ring_read(struct sgb_ring *r, float *const *dst, uint32_t nframes)
{
	const uint32_t cap = r->capacity, chans = r->channels;
	const uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	const int running = r->running != 0;
	uint64_t need = nframes, avail;
	uint32_t n = 0, off, first, c;

	if (!running) {
		need = __atomic_load_n(&r->start_fill, __ATOMIC_RELAXED);
		if (need == 0)
			need = 1;
	}
	avail = r->head_cache - tail;
	if (avail < need) {
		/* acquire: the data up to head is visible after this load */
		r->head_cache = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		avail = r->head_cache - tail;
	}
	if (!running) {
		if (avail < need)
			goto out;
		__atomic_store_n(&r->running, 1, __ATOMIC_RELEASE);
	}

	n = avail < nframes ? (uint32_t)avail : nframes;
	off = (uint32_t)tail & (cap - 1);
	first = cap - off < n ? cap - off : n;
	for (c = 0; c < chans; c++) {
		const float *src = sgb_ring_channel(r, c);
		if (dst[c] == NULL)
			continue;
		memcpy(dst[c], src + off, first * sizeof(float));
		memcpy(dst[c] + first, src, (n - first) * sizeof(float));
	}
	if (n < nframes) {
		__atomic_store_n(&r->underrun_events, r->underrun_events + 1, __ATOMIC_RELAXED);
		__atomic_store_n(&r->underrun_frames, r->underrun_frames + (nframes - n), __ATOMIC_RELAXED);
	}
	/* release: the producer may reuse the slots only after our copies */
	__atomic_store_n(&r->tail, tail + n, __ATOMIC_RELEASE);
out:
	for (c = 0; c < chans && n < nframes; c++) {
		if (dst[c] != NULL)
			memset(dst[c] + n, 0, (nframes - n) * sizeof(float));
	}
	__atomic_store_n(&r->reads, r->reads + 1, __ATOMIC_RELAXED);
	return n;
}

/* sgb_ring_restart drops everything queued (tail = head) and re-arms the
 * start-up pre-fill, so a consumer that was away (a sink reconnecting to a
 * restarted server) does not turn the stale queue into latency. Consumer
 * side: call it from the consumer's thread, before sgb_ring_read. The
 * producer sees the frames as consumed; the timing's read_pos jumps, which
 * the drift controller treats as a resync. */
static inline void sgb_ring_restart(struct sgb_ring *r)
{
	const uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);

	r->head_cache = head;
	__atomic_store_n(&r->running, 0, __ATOMIC_RELEASE);
	/* release: the producer may reuse the slots at once */
	__atomic_store_n(&r->tail, head, __ATOMIC_RELEASE);
}

/* sgb_ring_publish_timing publishes one cycle's timing through the seqlock.
 * Call it at the start of the cycle, before sgb_ring_read: it stamps
 * read_pos with the frames consumed so far, and underrun_frames with the
 * silence given for missing frames so far (so the controller can tell the
 * graph skipping the sink from the sink finding the ring short), and
 * numbers the cycle itself;
 * the other fields come from the sink (JACK: jack_get_cycle_times,
 * PipeWire: the io_position clock). wake_ns is the raw time the consumer's
 * callback began, for a sink whose published times are a server's
 * filtered guess (JACK's DLL); 0 where the published times are exact. */
static inline void sgb_ring_publish_timing(struct sgb_ring *r, int64_t cycle_ns,
		int64_t next_ns, double period_ns, uint64_t frames,
		uint32_t nframes, uint32_t rate, int64_t wake_ns)
{
	struct sgb_timing *t = &r->timing;
	const uint64_t s = r->seq;
	const uint64_t read_pos = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	const uint64_t cycle = t->cycle + 1;

	__atomic_store_n(&r->seq, s + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&t->cycle_ns, cycle_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&t->next_ns, next_ns, __ATOMIC_RELAXED);
	__atomic_store(&t->period_ns, &period_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&t->frames, frames, __ATOMIC_RELAXED);
	__atomic_store_n(&t->nframes, nframes, __ATOMIC_RELAXED);
	__atomic_store_n(&t->rate, rate, __ATOMIC_RELAXED);
	__atomic_store_n(&t->read_pos, read_pos, __ATOMIC_RELAXED);
	__atomic_store_n(&t->cycle, cycle, __ATOMIC_RELAXED);
	__atomic_store_n(&t->underrun_frames, r->underrun_frames, __ATOMIC_RELAXED);
	__atomic_store_n(&t->wake_ns, wake_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&r->seq, s + 2, __ATOMIC_RELEASE);
}

#endif /* SGB_RING_H */
