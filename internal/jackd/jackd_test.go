package jackd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestStartStop(t *testing.T) {
	s := StartT(t, 48000, 256)
	out, err := LSP(s.Name)
	if err != nil || !strings.Contains(string(out), "system:playback_1") {
		t.Fatalf("jack_lsp -s %s: %v\n%s", s.Name, err, out)
	}
	s.Stop()
	select {
	case <-s.Exited():
	default:
		t.Fatal("jackd still running after Stop")
	}
	if _, err := LSP(s.Name); err == nil {
		t.Error("jack_lsp still reaches the server after Stop")
	}
	left, _ := filepath.Glob("/dev/shm/jack_*" + s.Name + "_*")
	if len(left) > 0 {
		t.Errorf("left in /dev/shm: %v", left)
	}
	s.Stop() // idempotent
}

func TestKillCleansShm(t *testing.T) {
	s := StartT(t, 48000, 256)
	s.Kill()
	left, _ := filepath.Glob("/dev/shm/jack_*" + s.Name + "_*")
	if len(left) > 0 {
		t.Errorf("left in /dev/shm after Kill: %v", left)
	}
	// The shared registry must not keep the dead server's slot.
	reg, err := os.ReadFile("/dev/shm/jack-shm-registry")
	if err == nil && strings.Contains(string(reg), ":"+s.Name+":") {
		t.Errorf("jack-shm-registry still lists %s", s.Name)
	}
}

func TestStartTakenName(t *testing.T) {
	s := StartT(t, 48000, 256)
	s2, err := Start(s.Name, 48000, 256)
	if err == nil {
		s2.Stop()
		t.Fatal("a second server with the same name started")
	}
	if !strings.Contains(err.Error(), "already running") {
		t.Errorf("unclear error: %v", err)
	}
	if lsp(s.Name) != nil {
		t.Error("the first server is gone")
	}
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName("x"), UniqueName("x")
	if a == b || !strings.Contains(a, "_") || !strings.HasPrefix(a, "x") {
		t.Errorf("UniqueName: %q, %q", a, b)
	}
	if !strings.Contains(a, strconv.Itoa(os.Getpid())) {
		t.Errorf("%q lacks the pid", a)
	}
}
