/* sgb_pw.c: the PipeWire callbacks and the few calls Go makes. The process
 * callback is the real-time path: it copies from the ring, publishes timing
 * and returns; it never calls Go, allocates, locks, logs or blocks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spa/param/audio/format-utils.h>
#include <spa/param/audio/type-info.h>
#include <spa/param/latency-utils.h>
#include <spa/debug/types.h>
#include <spa/pod/builder.h>
#include <spa/utils/result.h>

#include "sgb_pw.h"

static void wake(struct sgb_pw *p, uint8_t ev)
{
	ssize_t n;

	do
		n = write(p->wake_fd, &ev, 1);
	while (n < 0 && errno == EINTR);
}

static void set_message(struct sgb_pw *p, const char *what, const char *msg)
{
	snprintf(p->message, sizeof(p->message), "%s%s", what, msg != NULL ? msg : "");
}

/* ---- the data path ---- */

static void on_process(void *data)
{
	struct sgb_pw *p = data;
	struct spa_io_position *pos = __atomic_load_n(&p->position, __ATOMIC_ACQUIRE);
	struct pw_buffer *b;
	struct spa_buffer *buf;
	uint32_t n, c, max, rate = 0, quantum = 0;

	__atomic_store_n(&p->cycles, p->cycles + 1, __ATOMIC_RELAXED);
	if (pos != NULL) {
		rate = pos->clock.rate.denom;
		quantum = (uint32_t)pos->clock.duration;
		__atomic_store_n(&p->rate, rate, __ATOMIC_RELAXED);
		__atomic_store_n(&p->quantum, quantum, __ATOMIC_RELAXED);
	}
	b = pw_stream_dequeue_buffer(p->stream);
	if (b == NULL) {
		__atomic_store_n(&p->no_buffer, p->no_buffer + 1, __ATOMIC_RELAXED);
		return;
	}
	buf = b->buffer;
	/* 0.3.65 often leaves requested at 0: the cycle's size is then the
	 * quantum in the position area. */
	n = (uint32_t)b->requested;
	if (n == 0)
		n = quantum;
	max = UINT32_MAX;
	for (c = 0; c < p->channels && c < buf->n_datas; c++) {
		uint32_t m = buf->datas[c].maxsize / sizeof(float);
		if (m < max)
			max = m;
	}
	if (n == 0 || n > max)
		n = max == UINT32_MAX ? 0 : max;
	for (c = 0; c < p->channels; c++)
		p->bufs[c] = c < buf->n_datas ? buf->datas[c].data : NULL;

	if (__atomic_load_n(&p->restart, __ATOMIC_ACQUIRE)) {
		sgb_ring_restart(p->ring);
		__atomic_store_n(&p->restart, 0, __ATOMIC_RELEASE);
	}
	if (pos != NULL && rate != 0) {
		/* The driver's clock: nsec is CLOCK_MONOTONIC; rate_diff is how
		 * much faster than nominal the driver runs, so one cycle lasts
		 * duration/rate/rate_diff seconds of CLOCK_MONOTONIC. */
		double rd = pos->clock.rate_diff > 0 ? pos->clock.rate_diff : 1.0;
		double period = (double)pos->clock.duration * 1e9 / (double)rate / rd;
		sgb_ring_publish_timing(p->ring, (int64_t)pos->clock.nsec,
			(int64_t)pos->clock.next_nsec, period, pos->clock.position, n, rate, 0);
		__atomic_store_n(&p->published, p->published + 1, __ATOMIC_RELAXED);
	}
	if (n > 0)
		sgb_ring_read(p->ring, p->bufs, n);
	for (c = 0; c < buf->n_datas; c++) {
		struct spa_chunk *ck = buf->datas[c].chunk;
		ck->offset = 0;
		ck->stride = sizeof(float);
		ck->size = c < p->channels ? n * sizeof(float) : 0;
	}
	b->size = n;
	pw_stream_queue_buffer(p->stream, b);
}

static void on_io_changed(void *data, uint32_t id, void *area, uint32_t size)
{
	struct sgb_pw *p = data;

	(void)size;
	if (id == SPA_IO_Position)
		__atomic_store_n(&p->position, (struct spa_io_position *)area, __ATOMIC_RELEASE);
}

static void on_state_changed(void *data, enum pw_stream_state old,
		enum pw_stream_state state, const char *error)
{
	struct sgb_pw *p = data;

	(void)old;
	switch (state) {
	case PW_STREAM_STATE_ERROR:
		set_message(p, "", error);
		wake(p, SGB_PW_EV_STREAM_ERROR);
		break;
	case PW_STREAM_STATE_STREAMING:
		wake(p, SGB_PW_EV_STREAMING);
		break;
	case PW_STREAM_STATE_PAUSED:
		wake(p, SGB_PW_EV_PAUSED);
		break;
	default:
		break;
	}
}

static const struct pw_stream_events stream_events = {
	PW_VERSION_STREAM_EVENTS,
	.state_changed = on_state_changed,
	.io_changed = on_io_changed,
	.process = on_process,
};

/* ---- the core and the settings metadata ---- */

static uint32_t parse_u32(const char *s)
{
	return s != NULL ? (uint32_t)strtoul(s, NULL, 10) : 0;
}

static int on_setting(void *data, uint32_t subject, const char *key,
		const char *type, const char *value)
{
	struct sgb_pw *p = data;

	(void)type;
	if (subject != PW_ID_CORE || key == NULL)
		return 0;
	if (strcmp(key, "clock.rate") == 0)
		p->clock_rate = parse_u32(value);
	else if (strcmp(key, "clock.quantum") == 0)
		p->clock_quantum = parse_u32(value);
	else if (strcmp(key, "clock.min-quantum") == 0)
		p->min_quantum = parse_u32(value);
	else if (strcmp(key, "clock.max-quantum") == 0)
		p->max_quantum = parse_u32(value);
	else if (strcmp(key, "clock.force-rate") == 0)
		p->force_rate = parse_u32(value);
	else if (strcmp(key, "clock.force-quantum") == 0)
		p->force_quantum = parse_u32(value);
	return 0;
}

static const struct pw_metadata_events settings_events = {
	PW_VERSION_METADATA_EVENTS,
	.property = on_setting,
};

static void on_global(void *data, uint32_t id, uint32_t permissions,
		const char *type, uint32_t version, const struct spa_dict *props)
{
	struct sgb_pw *p = data;
	const char *name;

	(void)permissions;
	(void)version;
	if (p->settings != NULL || strcmp(type, PW_TYPE_INTERFACE_Metadata) != 0)
		return;
	name = spa_dict_lookup(props, PW_KEY_METADATA_NAME);
	if (name == NULL || strcmp(name, "settings") != 0)
		return;
	p->settings = pw_registry_bind(p->registry, id, type, PW_VERSION_METADATA, 0);
	if (p->settings != NULL)
		pw_metadata_add_listener(p->settings, &p->settings_listener, &settings_events, p);
}

static const struct pw_registry_events registry_events = {
	PW_VERSION_REGISTRY_EVENTS,
	.global = on_global,
};

static void on_core_done(void *data, uint32_t id, int seq)
{
	struct sgb_pw *p = data;

	if (id != PW_ID_CORE || seq != p->sync_seq)
		return;
	/* Two round trips: the first delivers the globals (and binds the
	 * settings), the second the metadata's properties. */
	if (++p->synced < 2) {
		p->sync_seq = pw_core_sync(p->core, PW_ID_CORE, p->sync_seq);
		return;
	}
	pw_thread_loop_signal(p->loop, false);
}

static void on_core_error(void *data, uint32_t id, int seq, int res, const char *message)
{
	struct sgb_pw *p = data;

	(void)seq;
	if (id != PW_ID_CORE)
		return;
	if (res == -EPIPE) {
		if (!__atomic_exchange_n(&p->core_gone, 1, __ATOMIC_ACQ_REL))
			wake(p, SGB_PW_EV_CORE_GONE);
	} else {
		set_message(p, spa_strerror(res), message != NULL ? message : "");
		wake(p, SGB_PW_EV_CORE_ERROR);
	}
	pw_thread_loop_signal(p->loop, false);
}

static const struct pw_core_events core_events = {
	PW_VERSION_CORE_EVENTS,
	.done = on_core_done,
	.error = on_core_error,
};

/* ---- called from Go ---- */

static void disconnect_locked(struct sgb_pw *p);

struct sgb_pw *sgb_pw_new(int wake_fd)
{
	struct sgb_pw *p;

	pw_init(NULL, NULL);
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->wake_fd = wake_fd;
	p->props = pw_properties_new(NULL, NULL);
	p->loop = pw_thread_loop_new("sgbridge-pw", NULL);
	if (p->props == NULL || p->loop == NULL)
		goto fail;
	/* client-rt.conf loads module-rt: the data thread runs real-time
	 * where the system allows it. */
	p->context = pw_context_new(pw_thread_loop_get_loop(p->loop),
		pw_properties_new(PW_KEY_CONFIG_NAME, "client-rt.conf", NULL), 0);
	if (p->context == NULL)
		goto fail;
	if (pw_thread_loop_start(p->loop) < 0)
		goto fail;
	return p;
fail:
	sgb_pw_free(p);
	return NULL;
}

void sgb_pw_lock(struct sgb_pw *p) { pw_thread_loop_lock(p->loop); }
void sgb_pw_unlock(struct sgb_pw *p) { pw_thread_loop_unlock(p->loop); }

/* pw_properties_new is variadic; Go sets the stream's properties one by one. */
void sgb_pw_prop(struct sgb_pw *p, const char *key, const char *value)
{
	pw_properties_set(p->props, key, value);
}

static void disconnect_locked(struct sgb_pw *p)
{
	if (p->stream != NULL) {
		pw_stream_destroy(p->stream);
		p->stream = NULL;
	}
	__atomic_store_n(&p->position, NULL, __ATOMIC_RELEASE);
	if (p->settings != NULL) {
		spa_hook_remove(&p->settings_listener);
		pw_proxy_destroy((struct pw_proxy *)p->settings);
		p->settings = NULL;
	}
	if (p->registry != NULL) {
		spa_hook_remove(&p->registry_listener);
		pw_proxy_destroy((struct pw_proxy *)p->registry);
		p->registry = NULL;
	}
	if (p->core != NULL) {
		spa_hook_remove(&p->core_listener);
		pw_core_disconnect(p->core);
		p->core = NULL;
	}
}

/* sgb_pw_free stops the loop thread first: with no thread left to run
 * callbacks the objects can go without the lock. */
void sgb_pw_free(struct sgb_pw *p)
{
	if (p->loop != NULL)
		pw_thread_loop_stop(p->loop);
	disconnect_locked(p);
	if (p->context != NULL)
		pw_context_destroy(p->context);
	if (p->loop != NULL)
		pw_thread_loop_destroy(p->loop);
	if (p->props != NULL)
		pw_properties_free(p->props);
	free(p);
}

/* sgb_pw_connect connects to the daemon and reads the settings metadata;
 * 0 on success, a negative errno otherwise. */
int sgb_pw_connect(struct sgb_pw *p, int timeout_sec)
{
	int res = 0;

	pw_thread_loop_lock(p->loop);
	disconnect_locked(p);
	__atomic_store_n(&p->core_gone, 0, __ATOMIC_RELEASE);
	p->clock_rate = p->clock_quantum = p->min_quantum = p->max_quantum = 0;
	p->force_rate = p->force_quantum = 0;
	p->core = pw_context_connect(p->context, NULL, 0);
	if (p->core == NULL) {
		res = -errno;
		goto out;
	}
	pw_core_add_listener(p->core, &p->core_listener, &core_events, p);
	p->registry = pw_core_get_registry(p->core, PW_VERSION_REGISTRY, 0);
	pw_registry_add_listener(p->registry, &p->registry_listener, &registry_events, p);
	p->synced = 0;
	p->sync_seq = pw_core_sync(p->core, PW_ID_CORE, 0);
	while (p->synced < 2 && !__atomic_load_n(&p->core_gone, __ATOMIC_ACQUIRE)) {
		if (pw_thread_loop_timed_wait(p->loop, timeout_sec) != 0) {
			res = -ETIMEDOUT;
			break;
		}
	}
	if (res == 0 && __atomic_load_n(&p->core_gone, __ATOMIC_ACQUIRE))
		res = -EPIPE;
	if (res != 0)
		disconnect_locked(p);
out:
	pw_thread_loop_unlock(p->loop);
	return res;
}

void sgb_pw_disconnect(struct sgb_pw *p)
{
	pw_thread_loop_lock(p->loop);
	disconnect_locked(p);
	pw_thread_loop_unlock(p->loop);
}

/* sgb_pw_stream_start creates the stream from the kept properties and
 * connects it as an F32 planar output at rate. The loop lock is taken. */
int sgb_pw_stream_start(struct sgb_pw *p, struct sgb_ring *ring, uint32_t rate,
		const uint32_t *positions, uint32_t channels)
{
	uint8_t buffer[2048];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof(buffer));
	struct spa_audio_info_raw info;
	const struct spa_pod *params[1];
	uint32_t c;
	int res;

	if (channels == 0 || channels > SGB_PW_MAX_CHANNELS || channels > SPA_AUDIO_MAX_CHANNELS)
		return -EINVAL;
	pw_thread_loop_lock(p->loop);
	if (p->core == NULL) {
		res = -ENOTCONN;
		goto out;
	}
	if (p->stream != NULL) {
		pw_stream_destroy(p->stream);
		p->stream = NULL;
	}
	p->ring = ring;
	p->channels = channels;
	__atomic_store_n(&p->position, NULL, __ATOMIC_RELEASE);
	p->stream = pw_stream_new(p->core, pw_properties_get(p->props, PW_KEY_NODE_NAME),
		pw_properties_copy(p->props));
	if (p->stream == NULL) {
		res = -errno;
		goto out;
	}
	pw_stream_add_listener(p->stream, &p->stream_listener, &stream_events, p);

	spa_zero(info);
	info.format = SPA_AUDIO_FORMAT_F32P;
	info.rate = rate;
	info.channels = channels;
	for (c = 0; c < channels; c++)
		info.position[c] = positions[c];
	params[0] = spa_format_audio_raw_build(&b, SPA_PARAM_EnumFormat, &info);
	res = pw_stream_connect(p->stream, PW_DIRECTION_OUTPUT, PW_ID_ANY,
		PW_STREAM_FLAG_MAP_BUFFERS | PW_STREAM_FLAG_RT_PROCESS, params, 1);
out:
	pw_thread_loop_unlock(p->loop);
	return res;
}

/* sgb_pw_set_latency reports frames of capture latency as the output's
 * Latency param, which PipeWire adds up along the links downstream (what
 * pw-jack clients read as capture latency). The adapter of 0.3.65 does not
 * pass a stream's ProcessLatency on, so Latency is the one that counts. */
int sgb_pw_set_latency(struct sgb_pw *p, uint32_t frames)
{
	uint8_t buffer[512];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof(buffer));
	struct spa_latency_info lat = SPA_LATENCY_INFO(SPA_DIRECTION_OUTPUT,
		.min_rate = frames, .max_rate = frames);
	const struct spa_pod *params[1];
	int res = -ENOTCONN;

	params[0] = spa_latency_build(&b, SPA_PARAM_Latency, &lat);
	pw_thread_loop_lock(p->loop);
	if (p->stream != NULL)
		res = pw_stream_update_params(p->stream, params, 1);
	pw_thread_loop_unlock(p->loop);
	return res;
}

/* sgb_pw_channel_id maps a short position name (FL, AUX3, ...) to its
 * SPA_AUDIO_CHANNEL_* id; -1 when unknown. */
int sgb_pw_channel_id(const char *name)
{
	const struct spa_type_info *t;

	for (t = spa_type_audio_channel; t->name != NULL; t++) {
		if (strcmp(spa_debug_type_short_name(t->name), name) == 0)
			return (int)t->type;
	}
	return -1;
}

void sgb_pw_message(struct sgb_pw *p, char *buf, size_t len)
{
	pw_thread_loop_lock(p->loop);
	snprintf(buf, len, "%s", p->message);
	pw_thread_loop_unlock(p->loop);
}
