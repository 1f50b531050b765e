package jacklog

/*
#cgo pkg-config: jack
#include <pthread.h>
#include <string.h>
#include <jack/jack.h>

// The lock is only tried: libjack may report from its own threads and
// must never wait on us.
static pthread_mutex_t last_error_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_error[256];

static void on_error(const char *msg)
{
	if (pthread_mutex_trylock(&last_error_lock) != 0)
		return;
	strncpy(last_error, msg, sizeof(last_error) - 1);
	last_error[sizeof(last_error) - 1] = '\0';
	pthread_mutex_unlock(&last_error_lock);
}

static void on_info(const char *msg)
{
	(void)msg;
}

static void jacklog_quiet(void)
{
	jack_set_error_function(on_error);
	jack_set_info_function(on_info);
}

static void jacklog_last(char *buf, size_t len)
{
	pthread_mutex_lock(&last_error_lock);
	strncpy(buf, last_error, len - 1);
	buf[len - 1] = '\0';
	pthread_mutex_unlock(&last_error_lock);
}
*/
import "C"

// Quiet installs the handlers. It is idempotent, and cheap enough to call
// before every operation that may make libjack talk.
func Quiet() { C.jacklog_quiet() }

// LastError returns libjack's last error line since Quiet, or "".
func LastError() string {
	var buf [256]C.char
	C.jacklog_last(&buf[0], C.size_t(len(buf)))
	return C.GoString(&buf[0])
}
