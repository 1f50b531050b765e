#ifndef SGB_RT_H
#define SGB_RT_H

#include <poll.h>
#include <stdint.h>

/* What a wait returns: the poll count (or -errno) and CLOCK_MONOTONIC ns
 * read the moment the thread woke, before it left SCHED_FIFO. */
struct sgb_rt_woke {
	int64_t stamp;
	int32_t ret;
};

/* What a watch saw: the start of the last look that found the register
 * unchanged (0: none) and the end of the look that found it moved (or
 * the last look, when it did not move before the deadline). */
struct sgb_rt_look {
	int64_t pending;
	int64_t now;
	int32_t moved;
};

int sgb_rt_arm(int prio);
int sgb_rt_disarm(void);
int sgb_rt_armed(void);
int sgb_rt_set_nice(int nice);
void sgb_rt_save_nice(void);
int64_t sgb_rt_sleep_until(int64_t t);
struct sgb_rt_woke sgb_rt_poll(struct pollfd *fds, int nfds, int64_t timeout_ns);
struct sgb_rt_look sgb_rt_watch(const volatile uint32_t *reg, uint32_t value, int64_t until);

#endif
