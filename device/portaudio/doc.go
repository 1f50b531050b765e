// Package portaudio is the capture backend for any device PortAudio opens:
// a USB or HDMI grabber or a second sound card, on its own clock, through
// ALSA (--device alsa:PCM) or any PortAudio host API (--device pa:NAME).
//
// Each period is the "interrupt": Wait waits for the next period, reads it
// into the next of a small ring of buffers in native format and stamps it
// with the CLOCK_MONOTONIC time the period completed, so the engine reads
// it like an SG ring. Input overflows (the device overran because the
// reader fell behind) are counted, and the periods they lost show as a
// jump in the interrupt count with silence in their buffers, so the
// timeline stays right. A device that vanishes (unplugged) makes Wait fail
// with an error wrapping device.ErrGone; Reopen waits for it to come back.
//
// # Why Wait never lets PortAudio wait
//
// PortAudio 19.6's blocking Pa_ReadStream (Debian 12) never returns, and
// burns a core at the caller's real-time priority, when the device
// vanishes while it waits in its ALSA host API's poll
// (TestPortAudioReadSpinsWhenGone shows both ways):
//
//   - An unplugged card's poll descriptor reports POLLERR, which
//     PaAlsaStream_WaitForFrames takes for an xrun. When the restart it
//     then tries fails (snd_pcm_prepare: ENODEV), the PA_ENSURE in its
//     error path jumps back to its own error label, still with the xrun
//     flag set: it retries the failing restart forever, without polling.
//   - When the card's pointer just stops (alsa-lib reads it from the
//     mmap'd status page, so nothing fails), POLLERR comes back at once on
//     every poll, PaAlsaStream_HandleXrun finds no XRUN state and does
//     nothing, and Pa_ReadStream polls again, forever.
//
// Aborting the stream from another thread (a watchdog) stops neither: the
// first loop never looks at the stream's state, and after snd_pcm_drop the
// second still gets POLLERR and still finds no XRUN. So Wait does the
// waiting itself and calls Pa_ReadStream only once a whole period is in:
// then PortAudio copies it without polling, and the loops above cannot be
// entered (short of the device overrunning and vanishing within the few
// microseconds between the two calls). Pa_GetStreamReadAvailable, which
// Wait looks at, has no such loop: it restarts an overrun stream once and
// returns the error if that fails. A device whose ALSA calls fail is gone
// at once; one that stops delivering is gone after Config.Timeout
// (DefaultTimeout, at least 8 periods) without a period.
//
// Waiting itself costs a little CPU and buys stamps far better than a
// woken poll's. Wait sleeps (clock_nanosleep, no timer slack) until 300
// µs before the predicted end of the period, then looks at the frames
// available back to back, each look about a µs long, until the period
// is in. The stamp comes from the two looks that bracket the moment the
// pointer passed the period (their middle for a pointer that moves a
// period at a time, as on an SG DMA card and the test PCM; the line
// between them for one that moves frame by frame), never from a wake-up
// time: on this VM a locked SCHED_FIFO goroutine's sleep ends 90-230 µs
// late, and that lateness wanders over seconds. When a bracket is wide
// (the waiter slept through the period's end) the stamp is the
// prediction from the newest tight stamp and the period measured between
// tight stamps, held inside the bracket. On the test PCM at 48 kHz/256
// the intervals between stamps deviate by 0.52 µs RMS, 8.7 µs at worst,
// for 10 % of a core (BenchmarkWaitJitter); sleeping 30 µs between looks
// gave 30-46 µs RMS for 6.5 %, and the blocking read about 20-25 µs RMS
// for 2 %.
//
// PortAudio is driven through github.com/gordonklaus/portaudio for
// initialisation and device enumeration; the stream itself is opened with
// a few direct calls, because an ALSA PCM that PortAudio does not list
// ("plughw:CARD=USB", a PCM from asound.conf) needs the ALSA host API's
// PaAlsaStreamInfo, which the binding does not expose.
package portaudio
