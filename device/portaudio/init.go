package portaudio

/*
#cgo pkg-config: alsa
#include <alsa/asoundlib.h>

static void alsa_quiet_handler(const char *file, int line, const char *func, int err, const char *fmt, ...)
{
	(void)file; (void)line; (void)func; (void)err; (void)fmt;
}

// alsa_quiet silences alsa-lib's error lines (on) or restores its
// default handler (off).
static void alsa_quiet(int on)
{
	snd_lib_error_set_handler(on ? alsa_quiet_handler : NULL);
}
*/
import "C"

import (
	"fmt"
	"os"
	"sync"

	pa "github.com/gordonklaus/portaudio"

	"github.com/sgbridge/sgbridge/internal/jacklog"
)

// PortAudio's JACK host API opens a JACK client named "PortAudio" on the
// default server in Pa_Initialize and activates it, and it stays in the
// graph until Pa_Terminate: for sgbridge, for the whole run. Measured
// with jackd2 1.9.21 and PortAudio 19.6: that client never finishes its
// cycles ("JackEngine::XRun: client = PortAudio was not finished"), so
// the server reports an xrun on more than half of all cycles and every
// other client's audio suffers. sgbridge never captures from JACK through
// PortAudio (its sinks are the graph), so the host API is kept from
// finding a server: PortAudio has no switch for it, but libjack takes the
// server's name from the environment.
const noJACKServer = "sgbridge-no-portaudio-jack-client"

// envMu serialises the environment switch below and PortAudio's own
// reference-counted initialisation, which is not safe to race.
var envMu sync.Mutex

// initialize is pa.Initialize without PortAudio's JACK client, and
// without the lines alsa-lib and libjack print while PortAudio probes
// every PCM and the (missing) server: dozens on a machine without cards,
// none of them about the device asked for, whose errors PortAudio returns.
// The environment is changed only for the duration of the call;
// sgbridge's own JACK client always names its server explicitly
// (bridge/jack), so a client opened meanwhile is not affected.
func initialize() error {
	envMu.Lock()
	defer envMu.Unlock()
	jacklog.Quiet()
	C.alsa_quiet(1)
	defer C.alsa_quiet(0)
	restore := setenv(map[string]string{
		"JACK_DEFAULT_SERVER":  noJACKServer,
		"JACK_NO_START_SERVER": "1",
	})
	defer restore()
	if err := pa.Initialize(); err != nil {
		return fmt.Errorf("portaudio: initialise: %w", err)
	}
	return nil
}

// terminate is pa.Terminate under the same lock.
func terminate() error {
	envMu.Lock()
	defer envMu.Unlock()
	return pa.Terminate()
}

// setenv sets vars and returns a function that puts back what was there.
func setenv(vars map[string]string) (restore func()) {
	type old struct {
		v  string
		ok bool
	}
	saved := make(map[string]old, len(vars))
	for k, v := range vars {
		ov, ok := os.LookupEnv(k)
		saved[k] = old{ov, ok}
		os.Setenv(k, v)
	}
	return func() {
		for k, o := range saved {
			if o.ok {
				os.Setenv(k, o.v)
			} else {
				os.Unsetenv(k)
			}
		}
	}
}
