/*
 * A JACK client that records, for each process cycle, CLOCK_MONOTONIC at
 * the callback's entry, and the cycle's frame counter and start time as
 * jack_get_cycle_times gives them, then prints them: "wake_ns frames
 * cycle_us" a line. The arrays are static: nothing is allocated in the
 * process callback. Usage: client SECONDS
 */
#include <jack/jack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_CYCLES (1 << 16)

static jack_client_t *client;
static int64_t wake_ns[MAX_CYCLES];
static uint32_t frames[MAX_CYCLES];
static uint64_t cycle_us[MAX_CYCLES];
static volatile int cycles;

static int process(jack_nframes_t nframes, void *arg)
{
	struct timespec ts;
	jack_nframes_t f;
	jack_time_t cur, next;
	float period;

	(void)nframes;
	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (cycles >= MAX_CYCLES)
		return 0;
	jack_get_cycle_times(client, &f, &cur, &next, &period);
	wake_ns[cycles] = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	frames[cycles] = f;
	cycle_us[cycles] = cur;
	cycles++;
	return 0;
}

int main(int argc, char **argv)
{
	jack_status_t status;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
		return 2;
	}
	client = jack_client_open("sgbclock", JackNoStartServer, &status);
	if (client == NULL) {
		fprintf(stderr, "jack_client_open: status 0x%x\n", status);
		return 1;
	}
	jack_set_process_callback(client, process, NULL);
	if (jack_activate(client) != 0) {
		fprintf(stderr, "jack_activate failed\n");
		return 1;
	}
	sleep(atoi(argv[1]));
	jack_deactivate(client);
	for (int i = 0; i < cycles; i++)
		printf("%lld %u %llu\n", (long long)wake_ns[i], frames[i], (unsigned long long)cycle_us[i]);
	jack_client_close(client);
	return 0;
}
