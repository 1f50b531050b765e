/* sgb_jack.c: the JACK callbacks. The process callback is the real-time
 * path: it copies from the ring, publishes timing and returns; it never
 * calls Go, allocates, locks, logs or blocks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sgb_jack.h"

/* jack_client_open is variadic; cgo cannot call it directly. The server
 * is always named (Go resolves $JACK_DEFAULT_SERVER or "default"), so
 * nothing else in the process can change which server a client reaches. */
jack_client_t *sgb_jack_open(const char *name, const char *server, int *status)
{
	jack_status_t st = 0;
	jack_client_t *c = jack_client_open(name, JackNoStartServer | JackServerName, &st, server);

	*status = (int)st;
	return c;
}

static int64_t now_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Which clock is jack_get_time() on? The header promises CLOCK_MONOTONIC,
 * but jackd2 1.9.21 (Debian 12) reads CLOCK_MONOTONIC_RAW, which differs
 * from CLOCK_MONOTONIC by the NTP corrections since boot (here 250 ms, and
 * it runs at a rate NTP may move by hundreds of ppm). Returns 1 for RAW, 0
 * for MONOTONIC, judged by which one jack_get_time() sits within 50 us of;
 * when both are that close the clocks cannot be told apart now and RAW,
 * what jackd2 uses, is assumed. */
int sgb_jack_detect_clock(void)
{
	int64_t mono = 0, raw = 0, jt = 0, best = INT64_MAX;
	int i;

	for (i = 0; i < 8; i++) {
		int64_t r1 = now_ns(CLOCK_MONOTONIC_RAW);
		int64_t m1 = now_ns(CLOCK_MONOTONIC);
		int64_t j = (int64_t)jack_get_time() * 1000;
		int64_t m2 = now_ns(CLOCK_MONOTONIC);
		int64_t r2 = now_ns(CLOCK_MONOTONIC_RAW);
		if (r2 - r1 < best) { /* keep the least disturbed sample */
			best = r2 - r1;
			raw = r1 + (r2 - r1) / 2;
			mono = m1 + (m2 - m1) / 2;
			jt = j;
		}
	}
	if (llabs(jt - mono) < 50000 && llabs(jt - raw) >= 50000)
		return 0;
	return 1;
}

/* to_mono maps a jack_get_time() value (us) to CLOCK_MONOTONIC ns. For a
 * RAW-based libjack the two clocks are read back to back now and the
 * offset applied; the times converted are at most a cycle old, so the
 * rate difference between the clocks adds well under a microsecond, and
 * the same amount every cycle. clock_gettime is a vDSO call, no syscall. */
static int64_t mono_offset(const struct sgb_jack *j)
{
	int64_t r1, m, r2;

	if (!j->clock_raw)
		return 0;
	r1 = now_ns(CLOCK_MONOTONIC_RAW);
	m = now_ns(CLOCK_MONOTONIC);
	r2 = now_ns(CLOCK_MONOTONIC_RAW);
	return m - (r1 + (r2 - r1) / 2);
}

static int on_process(jack_nframes_t nframes, void *arg)
{
	/* First: the raw wake-up, late after the cycle's true start by the
	 * server's and our wake-up latency, never early. Its lower edge
	 * shows the graph clock without the DLL's start-up transient. */
	const int64_t wake = now_ns(CLOCK_MONOTONIC);
	struct sgb_jack *j = arg;
	jack_nframes_t cur;
	jack_time_t cur_us, next_us;
	float period_us;
	uint32_t i;

	for (i = 0; i < j->nports; i++)
		j->bufs[i] = jack_port_get_buffer(j->ports[i], nframes);

	/* Back on a restarted server: what queued up while we were away
	 * would only be latency. */
	if (__atomic_load_n(&j->restart, __ATOMIC_ACQUIRE)) {
		sgb_ring_restart(j->ring);
		__atomic_store_n(&j->restart, 0, __ATOMIC_RELEASE);
	}

	/* JACK's cycle times are filtered by its own DLL; they go out on
	 * CLOCK_MONOTONIC, the grabber's interrupt clock (see
	 * sgb_jack_detect_clock; a test checks it against the real clock). */
	if (jack_get_cycle_times(j->client, &cur, &cur_us, &next_us, &period_us) == 0) {
		const int64_t off = mono_offset(j);
		if (j->have_frames)
			j->frames += (uint32_t)(cur - j->last_frames);
		else
			j->frames = cur;
		j->last_frames = cur;
		j->have_frames = 1;
		sgb_ring_publish_timing(j->ring, (int64_t)cur_us * 1000 + off,
			(int64_t)next_us * 1000 + off, (double)period_us * 1000.0,
			j->frames, nframes, j->rate, j->filtered ? wake : 0);
	}
	sgb_ring_read(j->ring, j->bufs, nframes);
	__atomic_store_n(&j->cycles, j->cycles + 1, __ATOMIC_RELAXED);
	return 0;
}

static int on_xrun(void *arg)
{
	struct sgb_jack *j = arg;
	__atomic_add_fetch(&j->xruns, 1, __ATOMIC_RELAXED);
	return 0;
}

static int on_buffer_size(jack_nframes_t nframes, void *arg)
{
	struct sgb_jack *j = arg;
	__atomic_store_n(&j->period, nframes, __ATOMIC_RELAXED);
	return 0;
}

void sgb_jack_set_latency_ranges(struct sgb_jack *j)
{
	jack_latency_range_t r;
	uint32_t i;

	r.min = r.max = __atomic_load_n(&j->latency, __ATOMIC_RELAXED);
	for (i = 0; i < j->nports; i++)
		jack_port_set_latency_range(j->ports[i], JackCaptureLatency, &r);
}

/* Our ports are terminal outputs: their capture latency is the queue
 * between the grabber and the graph, which nothing upstream adds to. */
static void on_latency(jack_latency_callback_mode_t mode, void *arg)
{
	if (mode == JackCaptureLatency)
		sgb_jack_set_latency_ranges(arg);
}

static void on_shutdown(jack_status_t code, const char *reason, void *arg)
{
	struct sgb_jack *j = arg;
	char one = 1;
	ssize_t n;

	(void)code;
	strncpy(j->reason, reason != NULL ? reason : "", sizeof(j->reason) - 1);
	__atomic_store_n(&j->shutdown, 1, __ATOMIC_RELEASE);
	do
		n = write(j->wake_fd, &one, 1);
	while (n < 0 && errno == EINTR);
}

int sgb_jack_set_callbacks(struct sgb_jack *j)
{
	jack_on_info_shutdown(j->client, on_shutdown, j);
	if (jack_set_xrun_callback(j->client, on_xrun, j) != 0)
		return -1;
	if (jack_set_buffer_size_callback(j->client, on_buffer_size, j) != 0)
		return -2;
	if (jack_set_latency_callback(j->client, on_latency, j) != 0)
		return -3;
	return 0;
}

int sgb_jack_set_process(struct sgb_jack *j)
{
	return jack_set_process_callback(j->client, on_process, j);
}
