package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Dir is where sockets live: $XDG_RUNTIME_DIR/sgbridge, or a per-user
// directory under the system temp dir when XDG_RUNTIME_DIR is unset.
func Dir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "sgbridge")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("sgbridge-%d", os.Getuid()))
}

// Path is the socket of the bridge called name.
func Path(name string) string { return filepath.Join(Dir(), name+".sock") }

// Server answers every connection with the JSON of what snapshot returns.
type Server struct {
	ln       net.Listener
	path     string
	snapshot func() any
	wg       sync.WaitGroup
}

// Listen creates the socket at path (its directory 0700, the socket 0600)
// and serves snapshots until Close. A stale socket left by a crashed
// bridge is replaced; a live one is an error, since two bridges with one
// name would also clash in the graph.
func Listen(path string, snapshot func() any) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("status socket %s: another sgbridge with this name is running (pick another --name)", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	s := &Server{ln: ln, path: path, snapshot: snapshot}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		b, err := json.Marshal(s.snapshot())
		if err == nil {
			c.Write(append(b, '\n'))
		}
		c.Close()
	}
}

// Close stops serving and removes the socket.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	os.Remove(s.path)
	return err
}

// Read fetches one snapshot from the socket at path into v.
func Read(path string, v any) error {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no sgbridge is running with status socket %s", path)
		}
		return fmt.Errorf("status socket %s: %w", path, err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(io.LimitReader(c, 1<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// Running lists the names of bridges that have a socket in Dir.
func Running() []string {
	m, _ := filepath.Glob(filepath.Join(Dir(), "*.sock"))
	var names []string
	for _, p := range m {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".sock"))
	}
	sort.Strings(names)
	return names
}
