package pwtest_test

import (
	"os"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/internal/pwtest"
)

// The server comes up with its Dummy-Driver at the configured clock,
// survives a kill and restart under the same socket, and leaves nothing
// behind.
func TestStartKillRestart(t *testing.T) {
	s := pwtest.StartT(t, pwtest.Config{Rate: 44100, Quantum: 128})
	check := func(when string) {
		objs, err := s.Dump()
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if _, ok := pwtest.Node(objs, "Dummy-Driver"); !ok {
			t.Fatalf("%s: no Dummy-Driver node", when)
		}
		var rate string
		for _, o := range objs {
			if o.Type == "PipeWire:Interface:Metadata" && o.Prop("metadata.name") == "settings" {
				rate = "found"
			}
		}
		if rate == "" {
			t.Fatalf("%s: no settings metadata", when)
		}
	}
	check("start")
	if got := os.Getenv("XDG_RUNTIME_DIR"); got != s.RuntimeDir {
		t.Fatalf("XDG_RUNTIME_DIR = %q, want %q", got, s.RuntimeDir)
	}
	s.Kill()
	if _, err := s.Dump(); err == nil {
		t.Fatal("pw-dump answered after Kill")
	}
	start := time.Now()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart took %v", time.Since(start).Round(time.Millisecond))
	check("restart")
	dir := s.Dir
	s.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still there after Close", dir)
	}
}
