package status

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeAndRead(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	n := 0
	s, err := Listen(Path("test"), func() any { n++; return map[string]int{"calls": n} })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(Dir()); di.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode %v, want 0700", di.Mode().Perm())
	}
	for want := 1; want <= 3; want++ {
		var got map[string]int
		if err := Read(s.Path(), &got); err != nil {
			t.Fatal(err)
		}
		if got["calls"] != want {
			t.Fatalf("snapshot %v, want calls=%d", got, want)
		}
	}
	if names := Running(); len(names) != 1 || names[0] != "test" {
		t.Errorf("Running() = %v", names)
	}
}

func TestSecondBridgeWithSameNameRefused(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	s, err := Listen(Path("dup"), func() any { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Listen(Path("dup"), func() any { return 2 }); err == nil || !strings.Contains(err.Error(), "another sgbridge") {
		t.Fatalf("second Listen = %v", err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	os.MkdirAll(Dir(), 0o700)
	if err := os.WriteFile(Path("stale"), nil, 0o600); err != nil { // not a listening socket
		t.Fatal(err)
	}
	s, err := Listen(Path("stale"), func() any { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(Path("stale")); !os.IsNotExist(err) {
		t.Error("Close left the socket behind")
	}
}

func TestReadNoBridge(t *testing.T) {
	err := Read(filepath.Join(t.TempDir(), "none.sock"), new(any))
	if err == nil || !strings.Contains(err.Error(), "no sgbridge is running") {
		t.Fatalf("Read = %v", err)
	}
}
