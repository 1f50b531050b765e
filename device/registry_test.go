package device

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
	}{
		{"sim", Spec{"sim", ""}},
		{"uio:sgrab0", Spec{"uio", "sgrab0"}},
		{"alsa:hw:1,0", Spec{"alsa", "hw:1,0"}},
		{"PA:USB Audio", Spec{"pa", "USB Audio"}},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSpec(%q) = %+v, %v", tt.in, got, err)
		}
	}
	if _, err := ParseSpec("  "); err == nil {
		t.Error("empty spec accepted")
	}
}

func TestRegistryOpen(t *testing.T) {
	var r Registry
	boom := errors.New("boom")
	r.Register(Backend{Name: "sim", Open: func(string) (Grabber, error) { return nil, boom }})
	if _, err := r.Open(Spec{Backend: "sim"}); !errors.Is(err, boom) || !strings.Contains(err.Error(), "open device sim") {
		t.Errorf("Open error = %v", err)
	}
	_, err := r.Open(Spec{Backend: "nope", Name: "x"})
	if err == nil || !strings.Contains(err.Error(), `unknown device "nope:x"`) || !strings.Contains(err.Error(), "sim") {
		t.Errorf("unknown backend error = %v", err)
	}
}
