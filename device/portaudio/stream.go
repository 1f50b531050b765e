package portaudio

/*
#cgo pkg-config: portaudio-2.0
#include <stdlib.h>
#include <portaudio.h>
#include <pa_linux_alsa.h>

// open_input opens a blocking input stream on device index dev, or, when
// pcm is not NULL, on the ALSA PCM of that name.
static PaError open_input(PaStream **s, int dev, const char *pcm, int channels,
			  PaSampleFormat fmt, double latency, double rate,
			  unsigned long frames)
{
	PaAlsaStreamInfo info;
	PaStreamParameters p = {
		.device = dev,
		.channelCount = channels,
		.sampleFormat = fmt,
		.suggestedLatency = latency,
	};
	if (pcm) {
		PaAlsa_InitializeStreamInfo(&info);
		info.deviceString = pcm;
		p.device = paUseHostApiSpecificDeviceSpecification;
		p.hostApiSpecificStreamInfo = &info;
	}
	return Pa_OpenStream(s, &p, NULL, rate, frames, paClipOff | paDitherOff, NULL, NULL);
}

static PaError last_host_error(const char **text)
{
	const PaHostErrorInfo *e = Pa_GetLastHostErrorInfo();
	*text = e->errorText;
	return (PaError)e->errorCode;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/sgbridge/sgbridge/device"
)

// stream is one open PortAudio input stream in blocking mode.
type stream struct {
	s unsafe.Pointer // PaStream*
}

func paFormat(f device.SampleFormat) (C.PaSampleFormat, error) {
	switch f {
	case device.S16LE:
		return C.paInt16, nil
	case device.S24_3LE:
		return C.paInt24, nil
	case device.S32LE:
		return C.paInt32, nil
	case device.FloatLE:
		return C.paFloat32, nil
	}
	return 0, fmt.Errorf("PortAudio has no %s (use S16_LE, S24_3LE, S32_LE or FLOAT_LE; S32_LE carries 24-bit cards exactly)", f)
}

// openStream opens dev (a device index) or, with pcm != "", that ALSA PCM.
func openStream(dev int, pcm string, f device.Format, latency float64) (*stream, error) {
	pf, err := paFormat(f.Sample)
	if err != nil {
		return nil, err
	}
	var cpcm *C.char
	if pcm != "" {
		cpcm = C.CString(pcm)
		defer C.free(unsafe.Pointer(cpcm))
	}
	st := &stream{}
	if e := C.open_input(&st.s, C.int(dev), cpcm, C.int(f.Channels), pf, C.double(latency),
		C.double(f.Rate), C.ulong(f.Period)); e != C.paNoError {
		return nil, paError(e)
	}
	return st, nil
}

func (st *stream) start() error {
	if e := C.Pa_StartStream(st.s); e != C.paNoError {
		return paError(e)
	}
	return nil
}

// avail is the number of frames ready to read, or the error the device
// reports (a vanished ALSA device: -ENODEV).
func (st *stream) avail() (int, error) {
	n := C.Pa_GetStreamReadAvailable(st.s)
	if n == C.paInputOverflowed {
		return 0, errOverflow
	}
	if n < 0 {
		return 0, paError(C.PaError(n))
	}
	return int(n), nil
}

// read reads frames frames into buf, which must hold them. It returns
// errOverflow when the device overran since the previous read; buf is
// filled all the same.
func (st *stream) read(buf []byte, frames int) error {
	e := C.Pa_ReadStream(st.s, unsafe.Pointer(&buf[0]), C.ulong(frames))
	switch e {
	case C.paNoError:
		return nil
	case C.paInputOverflowed:
		return errOverflow
	}
	return paError(e)
}

func (st *stream) latency() float64 {
	if in := C.Pa_GetStreamInfo(st.s); in != nil {
		return float64(in.inputLatency)
	}
	return 0
}

func (st *stream) close() error {
	C.Pa_AbortStream(st.s)
	if e := C.Pa_CloseStream(st.s); e != C.paNoError {
		return paError(e)
	}
	return nil
}

var errOverflow = errors.New("input overflowed")

// Error is a PortAudio error; Host is the host API's own error code
// (ALSA's negative errno) when Code is paUnanticipatedHostError.
type Error struct {
	Code int
	Host int
	Text string
}

func (e *Error) Error() string { return e.Text }

func paError(e C.PaError) error {
	err := &Error{Code: int(e), Text: C.GoString(C.Pa_GetErrorText(e))}
	if e == C.paUnanticipatedHostError {
		var text *C.char
		err.Host = int(C.last_host_error(&text))
		if t := C.GoString(text); t != "" {
			err.Text = fmt.Sprintf("%s (%d)", t, err.Host)
		}
	}
	return err
}

// Error codes that mean the device is no longer there.
const (
	errDeviceUnavailable = int(C.paDeviceUnavailable)
	errHost              = int(C.paUnanticipatedHostError)
	errTimedOut          = int(C.paTimedOut)
)
