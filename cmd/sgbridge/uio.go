package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/device/uio"
	"github.com/sgbridge/sgbridge/internal/rt"
	"github.com/sgbridge/sgbridge/packaging/profiles"
)

// uioOptions are the flags of the UIO backend, shared by run and devices.
type uioOptions struct {
	profile string // --profile FILE; "" is the embedded sgrab.toml
	root    string // --uio-root DIR
	wait    bool   // --wait: ride out the device vanishing
	rtPrio  int    // --rt-priority
}

// addFlags adds the flags that find a device (run and devices).
func (u *uioOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&u.profile, "profile", "", "UIO device profile (TOML); default: the built-in "+profiles.DefaultName)
	f.StringVar(&u.root, "uio-root", "/", "directory holding sys/ and dev/ for UIO devices (an emulator's root in tests)")
}

// addRunFlags adds the flags only run has.
func (u *uioOptions) addRunFlags(f *pflag.FlagSet) {
	f.BoolVar(&u.wait, "wait", false, "when the device goes away, keep the ports playing silence and wait for it to return")
	f.IntVar(&u.rtPrio, "rt-priority", rt.DefaultPriority, "SCHED_FIFO priority of the interrupt loop while it waits for the device, 1..99 (0: normal priority)")
}

// loadProfile reads --profile, or the built-in default.
func (u *uioOptions) loadProfile() (*uio.Profile, error) {
	if u.profile == "" {
		return uio.ParseProfile(profiles.Default(), "built-in "+profiles.DefaultName)
	}
	return uio.LoadProfile(u.profile)
}

// backend is the "uio" backend. o may be nil when only listing.
func (u *uioOptions) backend(o *runOptions) device.Backend {
	return device.Backend{
		Name:    "uio",
		Summary: "Linux UIO SG grabber (--profile, --uio-root, --wait)",
		Open: func(name string) (device.Grabber, error) {
			p, err := u.loadProfile()
			if err != nil {
				return nil, err
			}
			if name == "" {
				name = p.Name
			}
			log := slog.Default()
			if o != nil && o.logLevel != "" {
				if l, err := parseLevel(o.logLevel); err == nil {
					log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
				}
			}
			// The engine's interrupt loop asks for real-time scheduling itself.
			return uio.Open(uio.Config{Root: u.root, Name: name, Profile: p, Log: log})
		},
		List: func() ([]device.Info, error) {
			p, perr := u.loadProfile()
			var out []device.Info
			roots := []string{u.root}
			if u.root != "/" {
				roots = append(roots, "/")
			}
			for _, root := range roots {
				infos, err := uio.List(root)
				if err != nil {
					return out, err
				}
				for _, in := range infos {
					out = append(out, device.Info{
						Spec:        device.Spec{Backend: "uio", Name: devName(root, in)},
						Description: describe(in, p, perr),
					})
				}
			}
			return out, nil
		},
	}
}

// devName is what --device uio:NAME takes for in: the uioN name, with the
// root spelled out when it is not "/" (the user passes --uio-root too).
func devName(root string, in uio.Info) string {
	if root == "/" {
		return fmt.Sprintf("uio%d", in.Index)
	}
	return fmt.Sprintf("uio%d (--uio-root %s)", in.Index, root)
}

func describe(in uio.Info, p *uio.Profile, perr error) string {
	var maps []string
	for _, m := range in.Maps {
		maps = append(maps, fmt.Sprintf("map%d %#x", m.Index, m.Size))
	}
	s := fmt.Sprintf("%q, %s", in.Name, strings.Join(maps, ", "))
	switch {
	case perr != nil:
		return s + "; profile: " + perr.Error()
	case p.Match(in) == nil:
		return s + fmt.Sprintf("; matches profile %s (%s)", p.File, p.Format)
	default:
		return s + "; no profile match: " + p.Match(in).Error()
	}
}
