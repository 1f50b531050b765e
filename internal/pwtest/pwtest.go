package pwtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/internal/logtail"
)

// StartTimeout bounds how long Start and Restart wait for the daemon and
// the session manager to be ready.
const StartTimeout = 15 * time.Second

// Binaries are the programs a Server needs.
var Binaries = []string{"pipewire", "wireplumber", "pw-dump"}

// Available reports whether every program in Binaries is on PATH.
func Available() bool {
	for _, b := range Binaries {
		if _, err := exec.LookPath(b); err != nil {
			return false
		}
	}
	return true
}

// Config is the graph the daemon runs.
type Config struct {
	Rate    int // default.clock.rate; 0 = 48000
	Quantum int // default.clock.quantum, also min and max so it stays put; 0 = 256
}

// Server is a private PipeWire daemon with WirePlumber.
type Server struct {
	Dir        string // everything private lives below it
	RuntimeDir string // XDG_RUNTIME_DIR: the socket pipewire-0 is here
	Rate       int
	Quantum    int

	mu  sync.Mutex
	pw  *daemon
	wp  *daemon
	out *logtail.Buffer
}

type daemon struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// Env is the environment a client of this server needs (append it to
// os.Environ()).
func (s *Server) Env() []string {
	return []string{
		"XDG_RUNTIME_DIR=" + s.RuntimeDir,
		"PIPEWIRE_RUNTIME_DIR=" + s.RuntimeDir,
		"PIPEWIRE_REMOTE=pipewire-0",
		"XDG_CONFIG_HOME=" + filepath.Join(s.Dir, "config"),
		"XDG_STATE_HOME=" + filepath.Join(s.Dir, "state"),
		"XDG_DATA_HOME=" + filepath.Join(s.Dir, "data"),
		"DBUS_SESSION_BUS_ADDRESS=disabled:",
		"DBUS_SYSTEM_BUS_ADDRESS=disabled:",
	}
}

// Socket is the path of the daemon's socket.
func (s *Server) Socket() string { return filepath.Join(s.RuntimeDir, "pipewire-0") }

// Output is the tail of both daemons' stdout and stderr.
func (s *Server) Output() string { return s.out.String() }

const pipewireConf = `# sgbridge test daemon: headless, no D-Bus, a fixed graph clock
context.properties = {
    support.dbus = false
    default.clock.rate = %d
    default.clock.allowed-rates = [ %d ]
    default.clock.quantum = %d
    default.clock.min-quantum = %d
    default.clock.max-quantum = %d
}
`

// The fragments sort before WirePlumber's 90-enable-all.lua, which acts on
// these settings.
const wpMain = `-- sgbridge test session: no hardware monitors, no D-Bus users
alsa_monitor.enabled = false
v4l2_monitor.enabled = false
libcamera_monitor.enabled = false
alsa_monitor.properties["alsa.reserve"] = false
default_access.properties["enable-flatpak-portal"] = false
`

const wpBluetooth = `-- sgbridge test session: no Bluetooth, no logind
bluez_monitor.enabled = false
bluez_monitor.properties["with-logind"] = false
`

// Start writes the private configuration and starts pipewire and then
// wireplumber, and waits until the session manager is in the graph.
func Start(cfg Config) (*Server, error) {
	if !Available() {
		return nil, fmt.Errorf("pwtest: %s not installed (Debian: apt-get install pipewire pipewire-bin wireplumber)", strings.Join(Binaries, ", "))
	}
	if cfg.Rate == 0 {
		cfg.Rate = 48000
	}
	if cfg.Quantum == 0 {
		cfg.Quantum = 256
	}
	// Not t.TempDir: the socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "sgbpw")
	if err != nil {
		return nil, fmt.Errorf("pwtest: %w", err)
	}
	s := &Server{Dir: dir, RuntimeDir: filepath.Join(dir, "run"), Rate: cfg.Rate, Quantum: cfg.Quantum, out: &logtail.Buffer{Max: 16 << 10}}
	q := cfg.Quantum
	files := map[string]string{
		"config/pipewire/pipewire.conf.d/10-sgbridge-test.conf":   fmt.Sprintf(pipewireConf, cfg.Rate, cfg.Rate, q, q, q),
		"config/wireplumber/main.lua.d/60-sgbridge-test.lua":      wpMain,
		"config/wireplumber/bluetooth.lua.d/60-sgbridge-test.lua": wpBluetooth,
	}
	for _, d := range []string{"run", "state", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pwtest: %w", err)
		}
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err == nil {
			err = os.WriteFile(p, []byte(text), 0o600)
		}
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pwtest: write %s: %w", name, err)
		}
	}
	if err := s.Restart(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) spawn(name string) (*daemon, error) {
	cmd := exec.Command(name)
	cmd.Env = append(os.Environ(), s.Env()...)
	cmd.Env = append(cmd.Env, "PIPEWIRE_DEBUG=2", "WIREPLUMBER_DEBUG=2")
	w := prefixWriter{prefix: name + ": ", out: s.out}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pwtest: start %s: %w", name, err)
	}
	d := &daemon{cmd: cmd, exited: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	return d, nil
}

// Restart starts the daemons if they are not running (after Stop or Kill)
// and waits until they are ready. The socket path stays the same.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pw != nil && !s.pw.done() {
		return errors.New("pwtest: pipewire is already running")
	}
	os.Remove(s.Socket())
	os.Remove(s.Socket() + ".lock")
	var err error
	if s.pw, err = s.spawn("pipewire"); err != nil {
		return err
	}
	deadline := time.Now().Add(StartTimeout)
	for !exists(s.Socket()) {
		if err := s.waitStep(s.pw, "pipewire", deadline); err != nil {
			return err
		}
	}
	if s.wp, err = s.spawn("wireplumber"); err != nil {
		return err
	}
	for {
		ok, derr := s.ready()
		if ok {
			return nil
		}
		if err := s.waitStep(s.wp, "wireplumber", deadline); err != nil {
			if derr != nil {
				err = fmt.Errorf("%w (last pw-dump: %v)", err, derr)
			}
			return err
		}
	}
}

func (s *Server) waitStep(d *daemon, name string, deadline time.Time) error {
	select {
	case <-d.exited:
		return fmt.Errorf("pwtest: %s exited during start-up (%v); output ends:\n%s", name, d.err, s.out.String())
	case <-time.After(50 * time.Millisecond):
	}
	if time.Now().After(deadline) {
		return fmt.Errorf("pwtest: %s not ready within %v; output ends:\n%s", name, StartTimeout, s.out.String())
	}
	return nil
}

func (d *daemon) done() bool {
	select {
	case <-d.exited:
		return true
	default:
		return false
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// Object is one entry of pw-dump's output, the parts tests look at.
type Object struct {
	ID   int    `json:"id"`
	Type string `json:"type"`
	Info struct {
		Props  map[string]any   `json:"props"`
		Params map[string][]any `json:"params"`
		State  string           `json:"state"`
	} `json:"info"`
	Props map[string]any `json:"props"` // metadata objects carry them here
}

// Prop is the property key of o as a string ("" when absent).
func (o Object) Prop(key string) string {
	v, ok := o.Info.Props[key]
	if !ok {
		v, ok = o.Props[key]
	}
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// Dump runs pw-dump against the server and decodes its objects.
func (s *Server) Dump() ([]Object, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "pw-dump")
	cmd.Env = append(os.Environ(), s.Env()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pw-dump: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	var objs []Object
	if err := json.Unmarshal(out, &objs); err != nil {
		return nil, fmt.Errorf("pw-dump: decode: %w", err)
	}
	return objs, nil
}

// Node finds the node named name in a dump.
func Node(objs []Object, name string) (Object, bool) {
	for _, o := range objs {
		if o.Type == "PipeWire:Interface:Node" && o.Prop("node.name") == name {
			return o, true
		}
	}
	return Object{}, false
}

// ready reports whether WirePlumber has joined: both its clients are
// connected, the main one and "WirePlumber [export]", which it opens once
// its modules are loaded and its policy runs.
func (s *Server) ready() (bool, error) {
	objs, err := s.Dump()
	if err != nil {
		return false, err
	}
	var client, export bool
	for _, o := range objs {
		if o.Type == "PipeWire:Interface:Client" {
			client = client || o.Prop("application.name") == "WirePlumber"
			export = export || o.Prop("application.name") == "WirePlumber [export]"
		}
	}
	return client && export, nil
}

// Stop ends both daemons with SIGTERM (SIGKILL after 5 s) and waits. The
// directories stay, so Restart can bring the server back.
func (s *Server) Stop() { s.end(syscall.SIGTERM) }

// Kill ends the PipeWire daemon at once with SIGKILL, as a crash would;
// WirePlumber loses its connection and is stopped too.
func (s *Server) Kill() { s.end(syscall.SIGKILL) }

func (s *Server) end(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range []*daemon{s.pw, s.wp} {
		if d == nil || d.done() {
			continue
		}
		d.cmd.Process.Signal(sig)
		select {
		case <-d.exited:
		case <-time.After(5 * time.Second):
			d.cmd.Process.Signal(syscall.SIGKILL)
			<-d.exited
		}
		sig = syscall.SIGTERM // WirePlumber always gets a clean stop
	}
}

// Close stops the daemons and removes the private directories.
func (s *Server) Close() {
	s.Stop()
	os.RemoveAll(s.Dir)
}

// StartT starts a private server for a test, points this process's
// libpipewire at it (t.Setenv: such tests cannot run in parallel) and
// closes it in t.Cleanup. It skips the test, loudly, only when the
// binaries are not installed, and fails it when the server does not start.
func StartT(t testing.TB, cfg Config) *Server {
	t.Helper()
	if !Available() {
		t.Skipf("SKIP: %s NOT INSTALLED: this test needs a real PipeWire daemon and WirePlumber (apt-get install pipewire pipewire-bin wireplumber)", strings.Join(Binaries, " / "))
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("PipeWire / WirePlumber output:\n%s", s.Output())
		}
		s.Close()
	})
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return s
}

// prefixWriter tags each write with the daemon's name.
type prefixWriter struct {
	prefix string
	out    *logtail.Buffer
}

func (w prefixWriter) Write(p []byte) (int, error) {
	w.out.Write(append([]byte(w.prefix), p...))
	return len(p), nil
}
