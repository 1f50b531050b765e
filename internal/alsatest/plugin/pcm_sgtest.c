/*
 * pcm_sgtest: an ALSA capture PCM that needs no hardware and runs on its
 * own clock, for sgbridge's tests.
 *
 * The device clock is CLOCK_MONOTONIC scaled by (1 + ppm·1e-6): the
 * hardware pointer at time t is floor((t - t0)·rate·(1 + ppm·1e-6)), so
 * the PCM delivers `rate` frames per device second, ppm off the host's
 * second, exactly as a card with its own crystal does. Its poll descriptor
 * is a timerfd armed for the moment the next avail_min frames exist, so a
 * blocked reader wakes on the device's period boundaries like an
 * interrupt. A reader that falls a whole buffer behind gets -EPIPE (an
 * overrun). While the file named by `gone` exists the PCM does not open,
 * and a running one does what an unplugged card does: its poll descriptor
 * turns readable with POLLERR at once and stays so (the kernel's poll of a
 * disconnected PCM), and its pointer either fails with -ENODEV
 * (unplug "error": a driver that reports the loss) or stops where it was
 * (unplug "freeze": a card whose hardware pointer alsa-lib reads from the
 * mmap'd status page and which so never fails).
 *
 *	pcm_type.sgtest { lib "/path/libasound_module_pcm_sgtest.so" }
 *	pcm.drifty {
 *		type sgtest
 *		rate 48000          # the only rate it offers
 *		ppm 200             # device clock offset
 *		signal "sine"       # sine (0.5·sin, channel c at freq·(1+c/4)) or counter
 *		freq 997
 *		gone "/tmp/x/gone"  # optional
 *		unplug "error"      # or "freeze": what the pointer does while gone
 *	}
 *
 * Formats S16_LE, S32_LE and FLOAT_LE; 1 to 8 channels; interleaved, read
 * or mmap (alsa-lib emulates mmap for ioplug).
 */
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum { SIG_SINE, SIG_COUNTER };

struct sgtest {
	snd_pcm_ioplug_t io;
	int tfd;
	unsigned rate;
	double ppm;
	double freq;
	int signal;
	char *gone;
	int freeze;		/* unplug "freeze": the pointer stops when gone */
	int frozen;		/* the pointer has stopped at frozen_hw */
	uint64_t frozen_hw;

	double ns_per_frame;	/* device frame length on CLOCK_MONOTONIC */
	int64_t t0;		/* start time, ns */
	int running;
	uint64_t pos;		/* frames handed out by transfer */
	snd_pcm_uframes_t avail_min;
	double whole[8], frac[8];	/* per-channel Hz split for exact phase */
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int is_gone(const struct sgtest *s)
{
	struct stat st;
	return s->gone && stat(s->gone, &st) == 0;
}

/*
 * hw_frames is the device's frame count now, in whole periods: like an SG
 * DMA engine (and many USB drivers) the pointer moves once per period, at
 * the period's interrupt, so a reader never sees a partial period and
 * wakes exactly on the device's period boundaries.
 */
static uint64_t hw_frames(const struct sgtest *s)
{
	if (!s->running)
		return 0;
	if (s->frozen)
		return s->frozen_hw;
	int64_t d = now_ns() - s->t0;
	uint64_t f = d <= 0 ? 0 : (uint64_t)((double)d / s->ns_per_frame);
	return f - f % s->io.period_size;
}

/* arm makes the timerfd readable once the device holds frame `frames`. */
static void arm(struct sgtest *s, uint64_t frames)
{
	int64_t t = s->t0 + (int64_t)ceil((double)frames * s->ns_per_frame);
	struct itimerspec it = {
		.it_value = { .tv_sec = t / 1000000000, .tv_nsec = t % 1000000000 },
	};
	if (t <= 0)
		it.it_value.tv_nsec = 1;
	timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &it, NULL);
}

static void disarm(struct sgtest *s)
{
	struct itimerspec it = { 0 };
	timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &it, NULL);
}

static int sg_start(snd_pcm_ioplug_t *io)
{
	struct sgtest *s = io->private_data;
	if (is_gone(s))
		return -ENODEV;
	s->t0 = now_ns();
	s->pos = 0;
	s->running = 1;
	s->frozen = 0;
	arm(s, s->avail_min);
	return 0;
}

static int sg_stop(snd_pcm_ioplug_t *io)
{
	struct sgtest *s = io->private_data;
	s->running = 0;
	disarm(s);
	return 0;
}

static snd_pcm_sframes_t sg_pointer(snd_pcm_ioplug_t *io)
{
	struct sgtest *s = io->private_data;
	if (is_gone(s)) {
		if (!s->freeze)
			return -ENODEV;
		if (!s->frozen) {
			s->frozen_hw = hw_frames(s);
			s->frozen = 1;
		}
	}
	uint64_t hw = hw_frames(s);
	if (s->running && hw > (uint64_t)io->appl_ptr + io->buffer_size)
		return -EPIPE;
	return hw % io->buffer_size;
}

static double sample(const struct sgtest *s, uint64_t n, unsigned c)
{
	if (s->signal == SIG_COUNTER)
		return (double)((n + 4096 * (uint64_t)c) & ((1u << 23) - 1)) / (1 << 23);
	uint64_t sec = n / s->rate, rem = n % s->rate;
	double cyc = s->frac[c] * (double)sec + (s->whole[c] + s->frac[c]) * (double)rem / s->rate;
	cyc -= floor(cyc);
	return 0.5 * sin(2 * M_PI * cyc);
}

static int32_t quantize(double v, int bits)
{
	double full = (double)(1u << (bits - 1));
	double q = nearbyint(v * full);
	if (q > full - 1)
		q = full - 1;
	if (q < -full)
		q = -full;
	return (int32_t)q;
}

static snd_pcm_sframes_t sg_transfer(snd_pcm_ioplug_t *io, const snd_pcm_channel_area_t *areas,
				     snd_pcm_uframes_t offset, snd_pcm_uframes_t size)
{
	struct sgtest *s = io->private_data;
	for (unsigned c = 0; c < io->channels; c++) {
		const snd_pcm_channel_area_t *a = &areas[c];
		char *base = (char *)a->addr + (a->first + a->step * offset) / 8;
		unsigned step = a->step / 8;
		for (snd_pcm_uframes_t i = 0; i < size; i++) {
			double v = sample(s, s->pos + i, c);
			char *p = base + i * step;
			switch (io->format) {
			case SND_PCM_FORMAT_S16_LE: {
				int16_t q = (int16_t)quantize(v, 16);
				memcpy(p, &q, 2);
				break;
			}
			case SND_PCM_FORMAT_S32_LE: {
				int32_t q = quantize(v, 32);
				memcpy(p, &q, 4);
				break;
			}
			default: {
				float f = (float)v;
				memcpy(p, &f, 4);
			}
			}
		}
	}
	s->pos += size;
	return size;
}

/*
 * The reader is told POLLIN once avail_min frames wait. It will consume at
 * least avail_min of them, so the timer is left readable when twice that
 * waits (the next poll must not block) and is otherwise re-armed for the
 * frame that makes the next avail_min: an early wake-up is harmless, a
 * late one would add latency.
 */
static int sg_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd, unsigned int nfds,
			   unsigned short *revents)
{
	struct sgtest *s = io->private_data;
	(void)pfd;
	(void)nfds;
	if (is_gone(s)) {
		/*
		 * What the kernel's poll says of a disconnected PCM, for good:
		 * the timer is left expired so every poll returns at once.
		 * PortAudio 19.6's blocking read takes POLLERR for an xrun,
		 * finds no XRUN state to recover from and polls again: it
		 * spins (see device/portaudio, which therefore never lets
		 * Pa_ReadStream poll).
		 */
		struct itimerspec it = { .it_value = { .tv_nsec = 1 } };
		timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &it, NULL);
		*revents = POLLIN | POLLERR;
		return 0;
	}
	uint64_t appl = io->appl_ptr, hw = hw_frames(s);
	uint64_t avail = hw > appl ? hw - appl : 0;
	*revents = 0;
	if (s->running && avail >= s->avail_min)
		*revents = POLLIN;
	if (s->running && avail < 2 * s->avail_min) {
		uint64_t junk;
		if (read(s->tfd, &junk, sizeof junk) < 0) {
			/* not expired yet: nothing to clear */
		}
		arm(s, appl + (avail >= s->avail_min ? 2 : 1) * s->avail_min);
	}
	return 0;
}

static int sg_hw_params(snd_pcm_ioplug_t *io, snd_pcm_hw_params_t *params)
{
	struct sgtest *s = io->private_data;
	(void)params;
	s->ns_per_frame = 1e9 / ((double)io->rate * (1 + s->ppm * 1e-6));
	s->avail_min = io->period_size;
	for (unsigned c = 0; c < io->channels && c < 8; c++) {
		double f = s->freq * (1 + c / 4.0);
		s->whole[c] = floor(f);
		s->frac[c] = f - floor(f);
	}
	return 0;
}

static int sg_sw_params(snd_pcm_ioplug_t *io, snd_pcm_sw_params_t *params)
{
	struct sgtest *s = io->private_data;
	snd_pcm_uframes_t m;
	if (snd_pcm_sw_params_get_avail_min(params, &m) == 0 && m > 0)
		s->avail_min = m;
	return 0;
}

static int sg_prepare(snd_pcm_ioplug_t *io)
{
	struct sgtest *s = io->private_data;
	s->running = 0;
	s->pos = 0;
	disarm(s);
	return is_gone(s) ? -ENODEV : 0;
}

static int sg_close(snd_pcm_ioplug_t *io)
{
	struct sgtest *s = io->private_data;
	close(s->tfd);
	free(s->gone);
	free(s);
	return 0;
}

static const snd_pcm_ioplug_callback_t sg_callback = {
	.start = sg_start,
	.stop = sg_stop,
	.pointer = sg_pointer,
	.transfer = sg_transfer,
	.close = sg_close,
	.hw_params = sg_hw_params,
	.sw_params = sg_sw_params,
	.prepare = sg_prepare,
	.poll_revents = sg_poll_revents,
};

static int set_constraints(struct sgtest *s)
{
	static const unsigned access[] = { SND_PCM_ACCESS_RW_INTERLEAVED, SND_PCM_ACCESS_MMAP_INTERLEAVED };
	static const unsigned formats[] = { SND_PCM_FORMAT_S16_LE, SND_PCM_FORMAT_S32_LE, SND_PCM_FORMAT_FLOAT_LE };
	snd_pcm_ioplug_t *io = &s->io;
	int err;
	if ((err = snd_pcm_ioplug_set_param_list(io, SND_PCM_IOPLUG_HW_ACCESS, 2, access)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_list(io, SND_PCM_IOPLUG_HW_FORMAT, 3, formats)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_CHANNELS, 1, 8)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_RATE, s->rate, s->rate)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_PERIOD_BYTES, 64, 1 << 20)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_PERIODS, 2, 64)) < 0 ||
	    (err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_BUFFER_BYTES, 128, 4 << 20)) < 0)
		return err;
	return 0;
}

SND_PCM_PLUGIN_DEFINE_FUNC(sgtest)
{
	snd_config_iterator_t i, next;
	long rate = 48000;
	double ppm = 0, freq = 997;
	const char *signal = "sine", *gone = NULL, *unplug = "error";
	int err;

	snd_config_for_each(i, next, conf) {
		snd_config_t *n = snd_config_iterator_entry(i);
		const char *id;
		if (snd_config_get_id(n, &id) < 0)
			continue;
		if (!strcmp(id, "comment") || !strcmp(id, "type") || !strcmp(id, "hint"))
			continue;
		if (!strcmp(id, "rate")) {
			if (snd_config_get_integer(n, &rate) < 0 || rate < 8000 || rate > 768000) {
				SNDERR("sgtest: rate must be an integer in 8000..768000");
				return -EINVAL;
			}
		} else if (!strcmp(id, "ppm") || !strcmp(id, "freq")) {
			double v;
			long l;
			if (snd_config_get_real(n, &v) < 0) {
				if (snd_config_get_integer(n, &l) < 0) {
					SNDERR("sgtest: %s must be a number", id);
					return -EINVAL;
				}
				v = (double)l;
			}
			*(strcmp(id, "ppm") ? &freq : &ppm) = v;
		} else if (!strcmp(id, "signal")) {
			if (snd_config_get_string(n, &signal) < 0)
				return -EINVAL;
		} else if (!strcmp(id, "gone")) {
			if (snd_config_get_string(n, &gone) < 0)
				return -EINVAL;
		} else if (!strcmp(id, "unplug")) {
			if (snd_config_get_string(n, &unplug) < 0)
				return -EINVAL;
		} else {
			SNDERR("sgtest: unknown field %s", id);
			return -EINVAL;
		}
	}
	if (stream != SND_PCM_STREAM_CAPTURE) {
		SNDERR("sgtest: capture only");
		return -EINVAL;
	}
	if (strcmp(signal, "sine") && strcmp(signal, "counter")) {
		SNDERR("sgtest: signal must be sine or counter");
		return -EINVAL;
	}
	if (strcmp(unplug, "error") && strcmp(unplug, "freeze")) {
		SNDERR("sgtest: unplug must be error or freeze");
		return -EINVAL;
	}
	struct sgtest *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->rate = (unsigned)rate;
	s->ppm = ppm;
	s->freq = freq;
	s->signal = strcmp(signal, "counter") ? SIG_SINE : SIG_COUNTER;
	s->gone = gone ? strdup(gone) : NULL;
	s->freeze = !strcmp(unplug, "freeze");
	if (is_gone(s)) {
		free(s->gone);
		free(s);
		return -ENODEV;
	}
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->tfd < 0) {
		err = -errno;
		free(s->gone);
		free(s);
		return err;
	}
	s->io.version = SND_PCM_IOPLUG_VERSION;
	s->io.name = "sgbridge test PCM";
	s->io.callback = &sg_callback;
	s->io.private_data = s;
	s->io.poll_fd = s->tfd;
	s->io.poll_events = POLLIN;
	s->io.mmap_rw = 0;
	s->io.flags = SND_PCM_IOPLUG_FLAG_MONOTONIC;
	if ((err = snd_pcm_ioplug_create(&s->io, name, stream, mode)) < 0) {
		close(s->tfd);
		free(s->gone);
		free(s);
		return err;
	}
	if ((err = set_constraints(s)) < 0) {
		snd_pcm_ioplug_delete(&s->io);
		return err;
	}
	*pcmp = s->io.pcm;
	return 0;
}

SND_PCM_PLUGIN_SYMBOL(sgtest);
