package device

import (
	"fmt"
	"slices"
	"strings"
)

// Spec is a parsed --device value: "sim", "uio:sgrab0", "alsa:hw:1,0",
// "pa:USB Audio". Backend is the part before the first colon, Name the
// rest (which may itself hold colons, as ALSA names do).
type Spec struct {
	Backend string
	Name    string
}

func (s Spec) String() string {
	if s.Name == "" {
		return s.Backend
	}
	return s.Backend + ":" + s.Name
}

// ParseSpec splits a --device value. It does not check that the backend
// exists; Registry.Open does.
func ParseSpec(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Spec{}, fmt.Errorf("empty device: give one such as \"sim\" or \"uio:sgrab0\" (sgbridge devices lists them)")
	}
	b, n, _ := strings.Cut(s, ":")
	return Spec{Backend: strings.ToLower(b), Name: n}, nil
}

// Info describes one device a backend can see.
type Info struct {
	Spec        Spec
	Description string // channels, rates, profile match: what a user picks by
}

// Backend opens and lists the devices of one kind. The command builds one
// per backend with the flags that backend needs captured in Open.
type Backend struct {
	Name    string // the Spec.Backend it serves
	Summary string // one line for `sgbridge devices`
	Open    func(name string) (Grabber, error)
	List    func() ([]Info, error) // nil: nothing to enumerate
}

// Registry maps backend names to backends. It is built by the command, not
// kept in package state.
type Registry struct {
	backends []Backend
}

// Register adds b; a later registration of the same name replaces it.
func (r *Registry) Register(b Backend) {
	r.backends = slices.DeleteFunc(r.backends, func(x Backend) bool { return x.Name == b.Name })
	r.backends = append(r.backends, b)
}

// Backends returns the registered backends in registration order.
func (r *Registry) Backends() []Backend { return slices.Clone(r.backends) }

// Open opens the device spec names.
func (r *Registry) Open(spec Spec) (Grabber, error) {
	for _, b := range r.backends {
		if b.Name == spec.Backend {
			g, err := b.Open(spec.Name)
			if err != nil {
				return nil, fmt.Errorf("open device %s: %w", spec, err)
			}
			return g, nil
		}
	}
	names := make([]string, 0, len(r.backends))
	for _, b := range r.backends {
		names = append(names, b.Name)
	}
	return nil, fmt.Errorf("unknown device %q: backends are %s (sgbridge devices lists what each sees)", spec.String(), strings.Join(names, ", "))
}
