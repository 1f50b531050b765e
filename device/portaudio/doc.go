// Package portaudio is the capture backend for any device PortAudio opens:
// a USB or HDMI grabber or a second sound card, on its own clock, through
// ALSA (--device alsa:PCM) or any PortAudio host API (--device pa:NAME).
//
// Its blocking read of one period is the "interrupt": Wait reads the next
// period into the next of a small ring of buffers in native format and
// stamps the return with CLOCK_MONOTONIC, so the engine reads it like an
// SG ring. Input overflows (the device overran because the reader fell
// behind) are counted, and the periods they lost show as a jump in the
// interrupt count with silence in their buffers, so the timeline stays
// right. A device that vanishes (unplugged) makes Wait fail with an error
// wrapping device.ErrGone; Reopen waits for it to come back.
//
// PortAudio is driven through github.com/gordonklaus/portaudio for
// initialisation and device enumeration; the stream itself is opened with
// a few direct calls, because an ALSA PCM that PortAudio does not list
// ("plughw:CARD=USB", a PCM from asound.conf) needs the ALSA host API's
// PaAlsaStreamInfo, which the binding does not expose.
package portaudio
