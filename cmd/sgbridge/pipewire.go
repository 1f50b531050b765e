package main

import (
	"fmt"
	"log/slog"

	"github.com/sgbridge/sgbridge/bridge"
	"github.com/sgbridge/sgbridge/bridge/pipewire"
	"github.com/sgbridge/sgbridge/device"
)

// The PipeWire sink is driven by the engine as it is.
var _ bridge.Sink = (*pipewire.Sink)(nil)

// resolveSink turns --sink into "jack" or "pipewire": auto picks PipeWire
// when its socket accepts a connection, else JACK (which may itself be
// PipeWire's libjack under pw-jack).
func resolveSink(flag string, pipewireUp func() bool) (string, error) {
	switch flag {
	case "jack", "pipewire":
		return flag, nil
	case "auto", "":
		if pipewireUp() {
			return "pipewire", nil
		}
		return "jack", nil
	}
	return "", usageError("--sink %q: want auto, jack or pipewire", flag)
}

// nodePositions resolves --positions for channels channels: empty means
// the standard layout (pipewire.DefaultPositions).
func nodePositions(flag string, channels int) ([]string, error) {
	if flag == "" {
		return pipewire.DefaultPositions(channels), nil
	}
	p, err := pipewire.ParsePositions(flag)
	if err != nil {
		return nil, usageError("--positions: %v", err)
	}
	if len(p) != channels {
		return nil, usageError("--positions %q: %d positions for %d channels", flag, len(p), channels)
	}
	return p, nil
}

// nodeDescription is the node's human name when --description is empty:
// what the device is, then the node name, e.g. "SG grabber (sgrab0)".
func nodeDescription(flag string, spec device.Spec, name string) string {
	if flag != "" {
		return flag
	}
	what := "Capture device"
	switch spec.Backend {
	case "sim":
		what = "Simulated SG grabber"
	case "uio":
		what = "SG grabber"
	case "alsa", "portaudio":
		what = "Audio capture"
	}
	return fmt.Sprintf("%s (%s)", what, name)
}

// openPipeWireSink opens the native PipeWire sink for `run`: node.name
// --name, node.description from --description (see nodeDescription),
// audio.position from --positions (see nodePositions), node.latency the
// device period (the graph runs its quantum no larger than our period
// where its min-quantum allows). positions and description are the raw
// flag values; log receives the sink's connection events.
func openPipeWireSink(o *runOptions, positions, description string, log *slog.Logger) (*pipewire.Sink, error) {
	spec, err := device.ParseSpec(o.device)
	if err != nil {
		return nil, usageError("--device: %v", err)
	}
	pos, err := nodePositions(positions, o.channels)
	if err != nil {
		return nil, err
	}
	return pipewire.Open(pipewire.Config{
		Name:        o.name,
		Description: nodeDescription(description, spec, o.name),
		Positions:   pos,
		Latency:     o.period,
		Log:         log,
	})
}
