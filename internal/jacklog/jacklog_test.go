package jacklog_test

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/bridge/jack"
	"github.com/sgbridge/sgbridge/internal/jacklog"
)

// A connection to a server that does not exist fails through libjack's
// error handler: nothing reaches stderr, and the error line is kept.
// (libjack's default handler prints three lines for it.)
func TestQuietKeepsTheErrorOffStderr(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved, err := unix.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Dup2(int(w.Fd()), 2); err != nil {
		t.Fatal(err)
	}
	jacklog.Quiet()
	_, oerr := jack.Open(jack.Config{Name: "jacklogtest", Server: "sgbridge-jacklog-no-such-server"})
	unix.Dup2(saved, 2)
	unix.Close(saved)
	w.Close()
	out := make([]byte, 4096)
	n, _ := r.Read(out)
	if !errors.Is(oerr, jack.ErrNoServer) {
		t.Fatalf("open: %v, want ErrNoServer", oerr)
	}
	if n > 0 {
		t.Errorf("libjack wrote to stderr:\n%s", out[:n])
	}
	if jacklog.LastError() == "" {
		t.Error("no error line kept")
	}
	t.Logf("open: %v; kept: %q", oerr, jacklog.LastError())
}
