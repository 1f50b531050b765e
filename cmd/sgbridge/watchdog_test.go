package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain arms a watchdog a minute before go test's -timeout. A test
// that waits on a wedged server or child otherwise ends in the testing
// package's panic, which prints every goroutine and, cut to its head and
// tail in a CI log, hides the one that matters. The watchdog prints the
// test goroutines' stacks and the state of every child process (what the
// kernel says it waits in) last, where a log tail shows them, kills the
// children and fails the run.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, ok := f.Value.(flag.Getter).Get().(time.Duration); ok && d > 2*time.Minute {
			t := time.AfterFunc(d-time.Minute, hung)
			defer t.Stop()
		}
	}
	code := m.Run()
	os.Exit(code)
}

func hung() {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\nWATCHDOG: a test is still running a minute before -timeout; its goroutines:\n\n")
	buf := make([]byte, 8<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "_test.go:") && !strings.Contains(g, "watchdog_test.go") {
			b.WriteString(g + "\n\n")
		}
	}
	kids := descendants(os.Getpid())
	fmt.Fprintf(&b, "WATCHDOG: child processes (pid state wchan command, then the kernel stack):\n")
	for _, pid := range kids {
		b.WriteString("  " + procState(pid) + "\n")
	}
	b.WriteString("WATCHDOG: killing them and failing the run\n")
	os.Stderr.Write(b.Bytes())
	for _, pid := range kids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	os.Exit(2)
}

// descendants lists the processes below pid, parents first.
func descendants(pid int) []int {
	parent := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		p, _ := strconv.Atoi(strings.Fields(s)[0])
		pp, _ := strconv.Atoi(f[1])
		parent[p] = pp
	}
	var out []int
	frontier := []int{pid}
	for len(frontier) > 0 {
		var next []int
		for p, pp := range parent {
			for _, f := range frontier {
				if pp == f {
					next = append(next, p)
				}
			}
		}
		out = append(out, next...)
		frontier = next
	}
	return out
}

func procState(pid int) string {
	read := func(name string) string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, name))
		return strings.TrimSpace(string(b))
	}
	stat := read("stat")
	state := "?"
	if i := strings.LastIndexByte(stat, ')'); i >= 0 && len(stat) > i+2 {
		state = stat[i+2 : i+3]
	}
	cmd := strings.ReplaceAll(read("cmdline"), "\x00", " ")
	s := fmt.Sprintf("%d %s %s %s", pid, state, read("wchan"), cmd)
	if k := read("stack"); k != "" { // root only
		s += "\n    " + strings.ReplaceAll(k, "\n", "\n    ")
	}
	return s
}
