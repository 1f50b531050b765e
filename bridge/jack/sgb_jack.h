/* sgb_jack.h: sgbridge's C side of a JACK client. Everything JACK calls
 * runs here; nothing here calls Go. */
#ifndef SGB_JACK_H
#define SGB_JACK_H

#include <stdint.h>
#include <jack/jack.h>
#include "sgb_ring.h"

#define SGB_JACK_MAX_PORTS 64
#define SGB_JACK_REASON    256

struct sgb_jack {
	jack_client_t *client;
	struct sgb_ring *ring;  /* set before activation, constant after */
	uint32_t nports;
	uint32_t rate;
	int clock_raw;          /* jack_get_time() runs on CLOCK_MONOTONIC_RAW */
	int filtered;           /* cycle times are a DLL's output: publish wake-ups too */
	jack_port_t *ports[SGB_JACK_MAX_PORTS];

	/* process thread only */
	float *bufs[SGB_JACK_MAX_PORTS];
	uint32_t last_frames;
	uint64_t frames;        /* 64-bit extension of jack_nframes_t frame time */
	int have_frames;

	/* shared; __atomic access */
	uint32_t latency;       /* capture latency to report, frames (Go writes) */
	uint32_t period;        /* current buffer size */
	uint64_t xruns;
	uint64_t cycles;
	int shutdown;
	int restart;            /* Go sets it at a reconnect: drop the stale queue */

	int wake_fd;            /* written once on shutdown; Go waits on it */
	char reason[SGB_JACK_REASON];
};

jack_client_t *sgb_jack_open(const char *name, const char *server, int *status);
int sgb_jack_detect_clock(void);
int sgb_jack_set_callbacks(struct sgb_jack *j);
int sgb_jack_set_process(struct sgb_jack *j);
void sgb_jack_set_latency_ranges(struct sgb_jack *j);

#endif /* SGB_JACK_H */
