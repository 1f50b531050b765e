// zitabench: the speed anchor for package resample. It runs
// zita-resampler's VResampler (hlen 32, the zita-a2j setting) on the same
// signal and block pattern as BenchmarkProcess: 256 input frames per call,
// ratio 1.0001 nudged by 1e-7 every call, white noise in [-0.5, 0.5).
//
// usage: zitabench CHANNELS SECONDS
// prints: x_rt_per_ch VALUE  (channel-seconds of 48 kHz audio per second)

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <zita-resampler/vresampler.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: zitabench CHANNELS SECONDS\n");
		return 2;
	}
	const int ch = atoi(argv[1]);
	const double secs = atof(argv[2]);
	const int block = 256, cap = 1024;
	if (ch < 1 || ch > 64 || secs <= 0) {
		fprintf(stderr, "zitabench: bad arguments\n");
		return 2;
	}
	float *in = new float[block * ch];
	float *out = new float[cap * ch];
	unsigned int seed = 1;
	for (int i = 0; i < block * ch; i++) {
		seed = seed * 1664525u + 1013904223u;
		in[i] = (seed >> 8) / 16777216.0f - 0.5f;
	}
	VResampler vr;
	if (vr.setup(1.0, ch, 32)) {
		fprintf(stderr, "zitabench: VResampler setup failed\n");
		return 1;
	}
	const double ratios[2] = { 1.0001, 1.0001 - 1e-7 };
	long frames = 0;
	double t0 = now(), t = t0;
	for (long i = 0; t - t0 < secs; i++) {
		vr.set_rratio(ratios[i & 1]);
		vr.inp_count = block;
		vr.inp_data = in;
		vr.out_count = cap;
		vr.out_data = out;
		vr.process();
		frames += cap - vr.out_count;
		if ((i & 255) == 0)
			t = now();
	}
	t = now();
	printf("x_rt_per_ch %.1f\n", frames * (double)ch / 48000.0 / (t - t0));
	delete[] in;
	delete[] out;
	return 0;
}
