/* sgb_pw.h: sgbridge's C side of a PipeWire Audio/Source stream. Everything
 * PipeWire calls runs here; nothing here calls Go. The callbacks tell Go
 * what happened by writing one event byte to a pipe. */
#ifndef SGB_PW_H
#define SGB_PW_H

#include <stdint.h>
#include <pipewire/pipewire.h>
#include <pipewire/extensions/metadata.h>
#include <spa/node/io.h>
#include "sgb_ring.h"

#define SGB_PW_MAX_CHANNELS 64
#define SGB_PW_MSG          256

/* event bytes on the wake pipe */
enum {
	SGB_PW_EV_STREAMING = 1, /* the stream reached STREAMING */
	SGB_PW_EV_PAUSED,        /* the stream is connected but idle */
	SGB_PW_EV_STREAM_ERROR,  /* the stream failed; see sgb_pw_message */
	SGB_PW_EV_CORE_GONE,     /* the connection to the daemon broke */
	SGB_PW_EV_CORE_ERROR,    /* the daemon reported an error on the core */
	SGB_PW_EV_SYNCED,        /* a settings round trip completed */
};

struct sgb_pw {
	struct pw_thread_loop *loop;
	struct pw_context *context;
	struct pw_properties *props; /* the stream's properties, kept for reconnects */

	/* loop thread (or Go holding the loop lock) */
	struct pw_core *core;
	struct spa_hook core_listener;
	struct pw_registry *registry;
	struct spa_hook registry_listener;
	struct pw_metadata *settings;
	struct spa_hook settings_listener;
	struct pw_stream *stream;
	struct spa_hook stream_listener;
	int sync_seq, synced;
	uint32_t clock_rate, clock_quantum, min_quantum, max_quantum, force_rate, force_quantum;
	char message[SGB_PW_MSG];

	/* set before the stream connects, constant while it runs */
	struct sgb_ring *ring;
	uint32_t channels;

	/* data thread */
	float *bufs[SGB_PW_MAX_CHANNELS];

	/* shared; __atomic access */
	struct spa_io_position *position;
	uint32_t rate, quantum;  /* last seen in io_position */
	uint64_t cycles;         /* process callbacks run */
	uint64_t no_buffer;      /* cycles without a free buffer */
	uint64_t published;      /* cycles that published timing */
	int restart;             /* Go sets it; the data thread restarts the ring */
	int core_gone;

	int wake_fd;
};

struct sgb_pw *sgb_pw_new(int wake_fd);
void sgb_pw_free(struct sgb_pw *p);
void sgb_pw_prop(struct sgb_pw *p, const char *key, const char *value);
int sgb_pw_connect(struct sgb_pw *p, int timeout_sec);
void sgb_pw_disconnect(struct sgb_pw *p);
int sgb_pw_stream_start(struct sgb_pw *p, struct sgb_ring *ring, uint32_t rate,
		const uint32_t *positions, uint32_t channels);
int sgb_pw_set_latency(struct sgb_pw *p, uint32_t frames);
int sgb_pw_channel_id(const char *name);
void sgb_pw_message(struct sgb_pw *p, char *buf, size_t len);
void sgb_pw_lock(struct sgb_pw *p);
void sgb_pw_unlock(struct sgb_pw *p);

#endif /* SGB_PW_H */
