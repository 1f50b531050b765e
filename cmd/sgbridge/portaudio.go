package main

import (
	"log/slog"
	"os"

	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/device/portaudio"
)

// portaudioBackends are the "alsa" and "pa" backends: any capture device
// PortAudio opens. The flags o carries become the stream's format; the
// rate defaults to the graph's when the device offers it (no needless
// rate conversion), else to the device's default.
//
// The backend waits for each period itself and only then lets PortAudio
// read, because PortAudio 19.6's blocking read spins at real-time
// priority when a card vanishes while it waits (device/portaudio's
// package doc says how).
func portaudioBackends(o *runOptions) []device.Backend {
	open := func(backend string) func(string) (device.Grabber, error) {
		return func(name string) (device.Grabber, error) {
			cfg := portaudio.Config{
				Backend: backend, Name: name,
				Channels: o.channels, Rate: o.rate, Sample: o.sample,
				Period: o.period, Buffers: o.buffers,
				Log: slog.Default(),
			}
			if o.logLevel != "" {
				if l, err := parseLevel(o.logLevel); err == nil {
					cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
				}
			}
			if cfg.Rate == 0 && o.graphHz != 0 {
				cfg.Rate = o.graphHz
				d, err := portaudio.Open(cfg)
				if err == nil {
					return d, nil
				}
				cfg.Rate = 0 // the device's default
			}
			return portaudio.Open(cfg)
		}
	}
	return []device.Backend{
		{
			Name:    "alsa",
			Summary: "ALSA capture PCM via PortAudio: alsa:hw:1,0, alsa:plughw:CARD=USB, any asound.conf PCM (--wait)",
			Open:    open("alsa"),
			List:    func() ([]device.Info, error) { return portaudio.List("alsa") },
		},
		{
			Name:    "pa",
			Summary: "any PortAudio capture device by index or name (--wait)",
			Open:    open("pa"),
			List:    func() ([]device.Info, error) { return portaudio.List("pa") },
		},
	}
}
