package alsatest

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

//go:embed plugin/pcm_sgtest.c
var pluginSource []byte

// PCM is one test capture PCM.
type PCM struct {
	Name   string  // ALSA PCM name, e.g. "sgtest"
	Rate   int     // the only rate it offers; 0 means 48000
	PPM    float64 // device clock offset from nominal
	Signal string  // "sine" (0.5 amplitude, channel c at Freq·(1+c/4)) or "counter"; "" is sine
	Freq   float64 // sine base frequency; 0 means 997
	// Unplug is what a running stream sees while the PCM is gone, beside
	// POLLERR on its poll descriptor: "error" (the default; the pointer
	// fails with -ENODEV) or "freeze" (the pointer stops and nothing
	// fails, as on a card alsa-lib reads through the mmap'd status page).
	Unplug string
}

// Config is a set of test PCMs sharing one plugin build and one
// configuration file.
type Config struct {
	Dir  string // holds the plugin, asound.conf and the vanish markers
	PCMs []PCM
	// System includes the system's alsa.conf (and so its cards and
	// plugins) before the test PCMs. Off, a process sees only the test
	// PCMs: enumeration is quick and quiet, and no plugin
	// of the host (jack, pulse) gets loaded.
	System bool
}

// ErrNoToolchain is wrapped by Build's error when no C compiler or no
// ALSA development headers are installed.
var ErrNoToolchain = errors.New("C compiler or libasound2-dev not installed")

// Build compiles the plugin into c.Dir and writes asound.conf there, which
// is loaded after the system's configuration when c.System.
func (c *Config) Build() error {
	cc, err := exec.LookPath("cc")
	if err != nil {
		return fmt.Errorf("alsatest: %w: %v", ErrNoToolchain, err)
	}
	if _, err := os.Stat("/usr/include/alsa/pcm_external.h"); err != nil {
		return fmt.Errorf("alsatest: %w: %v", ErrNoToolchain, err)
	}
	src := filepath.Join(c.Dir, "pcm_sgtest.c")
	lib := filepath.Join(c.Dir, "libasound_module_pcm_sgtest.so")
	if err := os.WriteFile(src, pluginSource, 0o644); err != nil {
		return fmt.Errorf("alsatest: %w", err)
	}
	out, err := exec.Command(cc, "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-DPIC", "-o", lib, src, "-lasound", "-lm").CombinedOutput()
	if err != nil {
		return fmt.Errorf("alsatest: build plugin: %v\n%s", err, out)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pcm_type.sgtest { lib %q }\n", lib)
	for _, p := range c.PCMs {
		if p.Name == "" || strings.ContainsAny(p.Name, " \t\"{}:") {
			return fmt.Errorf("alsatest: bad PCM name %q", p.Name)
		}
		rate, freq, sig := p.Rate, p.Freq, p.Signal
		if rate == 0 {
			rate = 48000
		}
		if freq == 0 {
			freq = 997
		}
		if sig == "" {
			sig = "sine"
		}
		unplug := p.Unplug
		if unplug == "" {
			unplug = "error"
		}
		if unplug != "error" && unplug != "freeze" {
			return fmt.Errorf("alsatest: PCM %s: unplug %q (want error or freeze)", p.Name, unplug)
		}
		fmt.Fprintf(&b, "pcm.%s {\n\ttype sgtest\n\trate %d\n\tppm %s\n\tfreq %s\n\tsignal %q\n\tgone %q\n\tunplug %q\n\thint { show on description \"sgbridge test PCM, %g ppm\" }\n}\n",
			p.Name, rate, strconv.FormatFloat(p.PPM, 'f', -1, 64), strconv.FormatFloat(freq, 'f', -1, 64),
			sig, c.goneFile(p.Name), unplug, p.PPM)
	}
	if !c.System && len(c.PCMs) > 0 {
		// A default PCM, as every system has. PortAudio 19.6 needs one:
		// it asserts (and aborts) when every PCM it probes opens and
		// none is "default" or "dmix".
		fmt.Fprintf(&b, "pcm.default { type plug slave.pcm %q }\n", c.PCMs[0].Name)
	}
	if err := os.WriteFile(c.confFile(), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("alsatest: %w", err)
	}
	return nil
}

func (c *Config) confFile() string { return filepath.Join(c.Dir, "asound.conf") }

func (c *Config) goneFile(name string) string { return filepath.Join(c.Dir, name+".gone") }

// Env is the environment that makes a process see the PCMs (after the
// system's alsa.conf when c.System).
func (c *Config) Env() []string {
	paths := []string{}
	if _, err := os.Stat("/usr/share/alsa/alsa.conf"); err == nil && c.System {
		paths = append(paths, "/usr/share/alsa/alsa.conf")
	}
	paths = append(paths, c.confFile())
	return []string{"ALSA_CONFIG_PATH=" + strings.Join(paths, ":")}
}

// Vanish makes PCM name disappear: running streams get -ENODEV and opens
// fail until Return.
func (c *Config) Vanish(name string) error {
	return os.WriteFile(c.goneFile(name), nil, 0o644)
}

// Return brings PCM name back.
func (c *Config) Return(name string) error {
	err := os.Remove(c.goneFile(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// New builds the PCMs in a test's temporary directory and sets
// ALSA_CONFIG_PATH for the test's process. Without a C compiler or the
// ALSA headers the test is skipped, loudly.
func New(t testing.TB, pcms ...PCM) *Config {
	t.Helper()
	c := &Config{Dir: t.TempDir(), PCMs: pcms}
	if err := c.Build(); err != nil {
		if errors.Is(err, ErrNoToolchain) {
			t.Skipf("ALSA test PCM: %v: cc and libasound2-dev NOT INSTALLED", err)
		}
		t.Fatal(err)
	}
	for _, kv := range c.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return c
}
