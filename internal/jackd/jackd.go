package jackd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/internal/logtail"
	"golang.org/x/sys/unix"
)

// StartTimeout bounds how long Start waits for the server to answer.
const StartTimeout = 10 * time.Second

// Server is a running private jackd.
type Server struct {
	Name     string
	Rate     int
	Period   int
	RealTime bool // jackd runs with SCHED_FIFO (-R)

	cmd    *exec.Cmd
	out    *logtail.Buffer
	exited chan struct{}
	err    error // set before exited closes
	stop   sync.Once
}

// Available reports whether jackd and jack_lsp are on PATH.
func Available() bool {
	for _, bin := range []string{"jackd", "jack_lsp"} {
		if _, err := exec.LookPath(bin); err != nil {
			return false
		}
	}
	return true
}

var nameSeq atomic.Uint64

// UniqueName returns a server name no other process or call uses:
// prefix, the process id and a counter.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s%d_%d", prefix, os.Getpid(), nameSeq.Add(1))
}

// Start runs `jackd -n name --port-max 64 -R|-r -d dummy -r rate -p period`
// and waits until `jack_lsp -s name` answers. Before -d, -p would be
// --port-max; after -d dummy it is the period. The server runs real-time
// (-R) where this process may use SCHED_FIFO, as on a real audio machine:
// without it a busy 2-core box makes a dummy server report xruns that say
// nothing about its clients. Elsewhere it runs without (-r).
func Start(name string, rate, period int) (*Server, error) {
	if name == "" {
		return nil, errors.New("jackd: empty server name")
	}
	if !Available() {
		return nil, errors.New("jackd: jackd or jack_lsp not installed (Debian: apt-get install jackd2)")
	}
	if lsp(name) == nil {
		return nil, fmt.Errorf("jackd: a JACK server named %s is already running", name)
	}
	s := &Server{Name: name, Rate: rate, Period: period, out: &logtail.Buffer{Max: 8 << 10}, exited: make(chan struct{})}
	rt := []string{"-r"}
	if CanRealtime() {
		rt = []string{"-R", "-P", "70"}
	}
	args := append([]string{"-n", name, "--port-max", "64"}, rt...)
	args = append(args, "-d", "dummy", "-r", strconv.Itoa(rate), "-p", strconv.Itoa(period))
	s.cmd = exec.Command("jackd", args...)
	s.RealTime = len(rt) > 1
	s.cmd.Env = append(os.Environ(), "JACK_NO_START_SERVER=1")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	// Own process group: a terminal's Ctrl-C goes to the caller, which
	// then stops jackd in order. (No Pdeathsig: it fires when the forking
	// OS thread exits, which a Go program does not control.)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("jackd: start %s: %w", name, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady() error {
	deadline := time.Now().Add(StartTimeout)
	for {
		if lsp(s.Name) == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("jackd: server %s exited during start-up (%v); its output ends:\n%s",
				s.Name, s.err, s.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jackd: server %s did not answer jack_lsp within %v; its output ends:\n%s",
				s.Name, StartTimeout, s.out.String())
		}
	}
}

// LSPTimeout bounds one jack_lsp call. A client that cannot get an
// answer from a wedged server would otherwise wait for ever, and a test
// harness waiting on it hangs instead of failing with what jackd said.
const LSPTimeout = 5 * time.Second

// LSP runs `jack_lsp -s name args...` without starting a server, killed
// after LSPTimeout, and returns what it printed.
func LSP(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), LSPTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "jack_lsp", append([]string{"-s", name}, args...)...)
	cmd.Env = append(os.Environ(), "JACK_NO_START_SERVER=1")
	cmd.WaitDelay = time.Second // a killed client's inherited pipes must not hold Wait
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("no answer within %v: %w", LSPTimeout, err)
		case errors.As(err, &ee) && len(ee.Stderr) > 0:
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return out, fmt.Errorf("jack_lsp -s %s: %w", name, err)
	}
	return out, nil
}

// lsp asks the server name for its ports; nil means it answered.
func lsp(name string) error {
	out, err := LSP(name)
	if err != nil {
		return err
	}
	if !bytes.Contains(out, []byte(":")) {
		return fmt.Errorf("jack_lsp -s %s: no ports listed", name)
	}
	return nil
}

// Output returns the tail of jackd's stdout and stderr.
func (s *Server) Output() string { return s.out.String() }

// Exited is closed when jackd has exited.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Stop terminates jackd (SIGTERM, then SIGKILL after 5 s), waits for it and
// removes what it may have left in /dev/shm. It is safe to call more than
// once.
func (s *Server) Stop() error {
	s.stop.Do(func() {
		s.signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			s.signal(syscall.SIGKILL)
			<-s.exited
		}
		s.cleanShm()
	})
	return nil
}

// Kill ends jackd at once with SIGKILL, as a crash would, and waits. A
// killed jackd keeps its slot in /dev/shm/jack-shm-registry, which holds
// only 8 servers for the whole machine and is not reclaimed for other
// names; a server started under the same name takes the dead slot over,
// so Kill starts one and stops it cleanly to give the slot back.
func (s *Server) Kill() {
	s.stop.Do(func() {
		s.signal(syscall.SIGKILL)
		<-s.exited
		if again, err := Start(s.Name, s.Rate, s.Period); err == nil {
			again.Stop()
		}
		s.cleanShm()
	})
}

func (s *Server) signal(sig syscall.Signal) {
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Signal(sig)
	}
}

// cleanShm removes the server's sockets and semaphores, which a killed
// jackd leaves behind (a clean exit removes them itself).
func (s *Server) cleanShm() {
	for _, pat := range []string{"jack_" + s.Name + "_*", "jack_sem.*_" + s.Name + "_*"} {
		files, _ := filepath.Glob(filepath.Join("/dev/shm", pat))
		for _, f := range files {
			os.Remove(f)
		}
	}
}

// StartT starts a private server for a test, named after a fresh
// UniqueName, and stops it in t.Cleanup. It skips the test, loudly, only
// when jackd is not installed, and fails it when jackd does not start.
func StartT(t testing.TB, rate, period int) *Server {
	t.Helper()
	if !Available() {
		t.Skip("SKIP: jackd / jack_lsp NOT INSTALLED: this test needs a real JACK server (apt-get install jackd2)")
	}
	t.Setenv("JACK_NO_START_SERVER", "1")
	s, err := Start(UniqueName("sgbt"), rate, period)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

// CanRealtime reports whether this process may use SCHED_FIFO (root, or
// an RLIMIT_RTPRIO above zero), found by trying it on a locked thread and
// putting the thread back to SCHED_OTHER at once (a goroutine that exits
// locked does not always take its thread with it: the main thread stays).
func CanRealtime() bool {
	ok := make(chan bool)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}, 0)
		if err == nil {
			unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}, 0)
		}
		ok <- err == nil
	}()
	return <-ok
}
