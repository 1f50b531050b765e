package jack

/*
#cgo pkg-config: jack
#include <jack/jack.h>

static const char *sgb_jack_version(void) { return jack_get_version_string(); }
*/
import "C"

// LibraryVersion is the version of the libjack sgbridge runs against (the
// one jackd2 ships, or PipeWire's pipewire-jack).
func LibraryVersion() string { return C.GoString(C.sgb_jack_version()) }
