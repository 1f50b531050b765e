/* Real time for the waits only.
 *
 * A Go thread that runs Go code at SCHED_FIFO can spin in the runtime
 * against a normal-priority thread: when a system call returns while the
 * garbage collector is scanning the goroutine's stack, exitsyscall spins
 * (procyield, then sched_yield) until the scan bit clears, and
 * sched_yield at SCHED_FIFO never yields to the SCHED_OTHER worker that
 * holds it. On a busy machine that worker then waits for the other CPUs.
 *
 * So the interrupt loop is SCHED_FIFO only inside these functions: it
 * rises just before it blocks, wakes at real-time priority, stamps the
 * wake-up and steps down before it returns to Go. The state is per
 * thread: a thread that was never armed waits at its own priority. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>

#include "sgb_rt.h"

static __thread int armed;      /* SCHED_FIFO priority for waits, 0: none */
static __thread int nice_saved; /* saved_nice holds the thread's nice */
static __thread int saved_nice;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int set_policy(int policy, int prio)
{
	struct sched_param p = { .sched_priority = prio };
	/* pid 0 is the calling thread; a child never inherits the policy. */
	if (sched_setscheduler(0, policy | SCHED_RESET_ON_FORK, &p) != 0)
		return errno;
	return 0;
}

/* sgb_rt_arm makes the calling thread's waits SCHED_FIFO at prio. It
 * proves the kernel allows it by rising once, and returns errno if not. */
int sgb_rt_arm(int prio)
{
	int err = set_policy(SCHED_FIFO, prio);
	if (err != 0)
		return err;
	set_policy(SCHED_OTHER, 0);
	armed = prio;
	return 0;
}

/* sgb_rt_disarm returns the thread to SCHED_OTHER at the nice it had
 * before sgb_rt_set_nice or sgb_rt_save_nice, and returns errno if the
 * policy could not be set. sched_setscheduler, not sched_setattr: the
 * latter sets the nice level too (to its attr's, 0), undoing the
 * restore. */
int sgb_rt_disarm(void)
{
	armed = 0;
	int err = set_policy(SCHED_OTHER, 0);
	if (nice_saved) {
		setpriority(PRIO_PROCESS, 0, saved_nice);
		nice_saved = 0;
	}
	return err;
}

int sgb_rt_armed(void) { return armed; }

void sgb_rt_save_nice(void)
{
	if (nice_saved)
		return;
	errno = 0;
	int n = getpriority(PRIO_PROCESS, 0); /* 0: the calling thread */
	if (errno == 0) {
		saved_nice = n;
		nice_saved = 1;
	}
}

int sgb_rt_set_nice(int nice)
{
	sgb_rt_save_nice();
	if (setpriority(PRIO_PROCESS, 0, nice) != 0)
		return errno;
	return 0;
}

static inline void rise(void)
{
	if (armed)
		set_policy(SCHED_FIFO, armed);
}

static inline void step_down(void)
{
	if (armed)
		set_policy(SCHED_OTHER, 0);
}

int64_t sgb_rt_sleep_until(int64_t t)
{
	struct timespec ts = { .tv_sec = t / 1000000000, .tv_nsec = t % 1000000000 };
	rise();
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	int64_t now = now_ns();
	step_down();
	return now;
}

struct sgb_rt_woke sgb_rt_poll(struct pollfd *fds, int nfds, int64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tp = &ts;
	}
	rise();
	int r = ppoll(fds, nfds, tp, NULL);
	struct sgb_rt_woke w = { .stamp = now_ns(), .ret = r < 0 ? -errno : r };
	step_down();
	return w;
}

/* sgb_rt_watch reads *reg back to back until it is no longer value or
 * the clock passes until: a wait on a device register, so at SCHED_FIFO
 * on an armed thread like the others. */
struct sgb_rt_look sgb_rt_watch(const volatile uint32_t *reg, uint32_t value, int64_t until)
{
	struct sgb_rt_look l = { 0, 0, 0 };
	rise();
	for (;;) {
		int64_t before = now_ns();
		uint32_t cur = __atomic_load_n(reg, __ATOMIC_ACQUIRE);
		l.now = now_ns();
		if (cur != value) {
			l.moved = 1;
			break;
		}
		if (l.now > until)
			break;
		l.pending = before;
	}
	step_down();
	return l;
}
