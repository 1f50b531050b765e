// Package alsatest makes ALSA capture PCMs for tests that need no sound
// card but run on their own clock, the way a USB grabber or a second card
// does.
//
// The PCM is an alsa-lib external plugin (plugin/pcm_sgtest.c, built with
// the system C compiler against libasound at test time) loaded through a
// private asound.conf named by ALSA_CONFIG_PATH. Its device clock is
// CLOCK_MONOTONIC scaled by a configurable ppm offset, its poll descriptor
// wakes the reader on the device's period boundaries, it overruns like a
// card when the reader falls a buffer behind, and it vanishes while a
// marker file exists, as an unplugged card does: it refuses to open, and a
// running stream's poll descriptor reports POLLERR at once while its
// pointer fails with -ENODEV or, with PCM.Unplug "freeze", just stops.
// Every process given the environment sees the same PCMs: sgbridge through
// PortAudio, zita-a2j, arecord.
//
// Why not the `jack` PCM of libasound2-plugins on a private JACK server:
// its rate must be the server's, and both a JACK dummy driver and
// PipeWire's dummy driver tick at exactly their nominal rate on
// CLOCK_MONOTONIC, so no construction of theirs yields a clock that is a
// few ppm off nominal; the JACK dummy driver's -w changes the period, not
// the rate. The PCM would also put a second JACK server's client into
// sgbridge's process, which libjack does not support. Why not snd-aloop:
// it needs a kernel module, which CI containers cannot load.
package alsatest
