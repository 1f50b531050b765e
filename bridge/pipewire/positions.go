package pipewire

/*
#include <stdlib.h>
#include "sgb_pw.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// defaultLayouts are the channel positions for 1 to 8 channels: the
// layouts WAVE_FORMAT_EXTENSIBLE, PulseAudio and PipeWire's channel mixer
// take as standard for that count (mono, stereo, 3.0, quad, 5.0, 5.1, 6.1,
// 7.1). Above 8 there is no standard; the channels are AUX0..AUXn-1.
var defaultLayouts = [...][]string{
	1: {"MONO"},
	2: {"FL", "FR"},
	3: {"FL", "FR", "FC"},
	4: {"FL", "FR", "RL", "RR"},
	5: {"FL", "FR", "FC", "RL", "RR"},
	6: {"FL", "FR", "FC", "LFE", "RL", "RR"},
	7: {"FL", "FR", "FC", "LFE", "RC", "SL", "SR"},
	8: {"FL", "FR", "FC", "LFE", "RL", "RR", "SL", "SR"},
}

// DefaultPositions returns the audio.position of a channels-channel node.
func DefaultPositions(channels int) []string {
	if channels >= 1 && channels < len(defaultLayouts) {
		return append([]string(nil), defaultLayouts[channels]...)
	}
	p := make([]string, max(channels, 0))
	for i := range p {
		p[i] = fmt.Sprintf("AUX%d", i)
	}
	return p
}

// ParsePositions parses a --positions value: channel position names
// separated by commas or spaces ("FL,FR,FC,LFE"), as PipeWire spells them
// (case-insensitive). Every name must be known and used once.
func ParsePositions(s string) ([]string, error) {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	if len(f) == 0 {
		return nil, fmt.Errorf("positions %q: empty", s)
	}
	seen := map[string]bool{}
	for i, name := range f {
		name = strings.ToUpper(name)
		if _, err := channelID(name); err != nil {
			return nil, fmt.Errorf("positions %q: %w", s, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("positions %q: %s given twice", s, name)
		}
		seen[name] = true
		f[i] = name
	}
	if len(f) > MaxChannels {
		return nil, fmt.Errorf("positions %q: %d channels, at most %d", s, len(f), MaxChannels)
	}
	return f, nil
}

// channelID is the SPA_AUDIO_CHANNEL_* id of a position name.
func channelID(name string) (uint32, error) {
	if name == "" || len(name) > 16 {
		return 0, fmt.Errorf("unknown channel position %q", name)
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	id := C.sgb_pw_channel_id(cs)
	if id < 0 || name == "UNK" || name == "NA" {
		return 0, fmt.Errorf("unknown channel position %q (want FL, FR, FC, LFE, RL, RR, SL, SR, MONO, AUX0.. ...)", name)
	}
	return uint32(id), nil
}
