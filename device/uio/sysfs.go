package uio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Map is one memory map of a UIO device as sysfs describes it
// (/sys/class/uio/uioN/maps/mapM/{addr,size,offset,name}). Offset is where
// the region starts inside the first mapped page: mmap at M·pagesize gives
// the page, the region begins Offset bytes into it.
type Map struct {
	Index  int
	Name   string
	Addr   uint64
	Size   int64
	Offset int64
}

// Info is one UIO device found under a root.
type Info struct {
	Index int    // N of uioN
	Name  string // the driver's name for it
	Dev   string // the device path (ROOT/dev/uioN)
	Sys   string // its sysfs directory
	Maps  []Map
}

// ErrNotFound is wrapped when no UIO device matches a name.
var ErrNotFound = errors.New("no such UIO device")

// classDir is where UIO devices are listed, under root.
func classDir(root string) string { return filepath.Join(root, "sys", "class", "uio") }

// List finds every UIO device under root ("/" for the real system), in
// index order. A device whose sysfs entry is malformed is an error: the
// tree is the kernel's (or the emulator's), so a bad one is worth saying.
func List(root string) ([]Info, error) {
	ents, err := os.ReadDir(classDir(root))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // no UIO support loaded, or nothing emulated here
	}
	if err != nil {
		return nil, fmt.Errorf("list UIO devices: %w", err)
	}
	var out []Info
	for _, e := range ents {
		n, ok := uioIndex(e.Name())
		if !ok {
			continue
		}
		in, err := readInfo(root, n)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

func uioIndex(s string) (int, bool) {
	d, ok := strings.CutPrefix(s, "uio")
	if !ok || d == "" || len(d) > 6 {
		return 0, false
	}
	n, err := strconv.Atoi(d)
	if err != nil || n < 0 || strconv.Itoa(n) != d {
		return 0, false
	}
	return n, true
}

// readInfo parses ROOT/sys/class/uio/uioN.
func readInfo(root string, n int) (Info, error) {
	sys := filepath.Join(classDir(root), fmt.Sprintf("uio%d", n))
	in := Info{Index: n, Sys: sys, Dev: filepath.Join(root, "dev", fmt.Sprintf("uio%d", n))}
	name, err := readLine(filepath.Join(sys, "name"))
	if err != nil {
		return in, fmt.Errorf("uio%d: %w", n, err)
	}
	in.Name = name
	ents, err := os.ReadDir(filepath.Join(sys, "maps"))
	if err != nil && !errors.Is(err, os.ErrNotExist) { // a device without memory has no maps/
		return in, fmt.Errorf("uio%d: %w", n, err)
	}
	for _, e := range ents {
		d, ok := strings.CutPrefix(e.Name(), "map")
		m, err := strconv.Atoi(d)
		if !ok || err != nil || m < 0 || m >= MaxMaps {
			return in, fmt.Errorf("uio%d: unexpected entry %s in maps/ (want map0..map%d)", n, e.Name(), MaxMaps-1)
		}
		mp, err := readMap(filepath.Join(sys, "maps", e.Name()), m)
		if err != nil {
			return in, fmt.Errorf("uio%d: %w", n, err)
		}
		in.Maps = append(in.Maps, mp)
	}
	sort.Slice(in.Maps, func(i, j int) bool { return in.Maps[i].Index < in.Maps[j].Index })
	return in, nil
}

func readMap(dir string, m int) (Map, error) {
	mp := Map{Index: m}
	var err error
	if mp.Name, err = readLine(filepath.Join(dir, "name")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return mp, err // name is optional (older kernels, unnamed maps)
	}
	fields := []struct {
		file string
		dst  func(uint64)
		max  uint64
	}{
		{"addr", func(v uint64) { mp.Addr = v }, 1<<64 - 1},
		{"size", func(v uint64) { mp.Size = int64(v) }, maxOffset},
		{"offset", func(v uint64) { mp.Offset = int64(v) }, 1 << 20},
	}
	for _, f := range fields {
		path := filepath.Join(dir, f.file)
		s, err := readLine(path)
		if err != nil {
			return mp, err
		}
		v, err := ParseHex(s)
		if err != nil || v > f.max {
			return mp, fmt.Errorf("%s: %q is not a hex number up to %#x", path, s, f.max)
		}
		f.dst(v)
	}
	if mp.Size <= 0 {
		return mp, fmt.Errorf("%s: map%d has size 0", dir, m)
	}
	return mp, nil
}

// ParseHex parses a sysfs hex value: "0x1000" or "1000".
func ParseHex(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	d := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if d == "" {
		return 0, fmt.Errorf("empty hex value %q", s)
	}
	return strconv.ParseUint(d, 16, 64)
}

func readLine(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// Find resolves a device name the way --device uio:NAME does:
//
//	"uio3"           the device with that index
//	"sgrab"          the first device whose driver name is sgrab
//	"sgrab1"         the second device named sgrab (instances count from 0)
//	"/dev/uio3"      a device path, as given (for a root other than "/",
//	                 paths are taken inside the root)
func Find(root, name string) (Info, error) {
	if name == "" {
		return Info{}, fmt.Errorf("%w: empty name (give a driver name like sgrab, uioN or /dev/uioN)", ErrNotFound)
	}
	all, err := List(root)
	if err != nil {
		return Info{}, err
	}
	if strings.Contains(name, "/") {
		base := filepath.Base(name)
		if n, ok := uioIndex(base); ok {
			for _, in := range all {
				if in.Index == n {
					if filepath.IsAbs(name) && filepath.Clean(root) == "/" {
						in.Dev = name
					}
					return in, nil
				}
			}
		}
		return Info{}, fmt.Errorf("%w: %s (no %s in %s)", ErrNotFound, name, base, classDir(root))
	}
	if n, ok := uioIndex(name); ok {
		for _, in := range all {
			if in.Index == n {
				return in, nil
			}
		}
	}
	for _, in := range all {
		if in.Name == name {
			return in, nil
		}
	}
	// "sgrab1": the instance suffix.
	stem := strings.TrimRight(name, "0123456789")
	if stem != name && stem != "" {
		k, _ := strconv.Atoi(name[len(stem):])
		for _, in := range all {
			if in.Name == stem {
				if k == 0 {
					return in, nil
				}
				k--
			}
		}
	}
	var names []string
	for _, in := range all {
		names = append(names, fmt.Sprintf("uio%d (%s)", in.Index, in.Name))
	}
	seen := "none"
	if len(names) > 0 {
		seen = strings.Join(names, ", ")
	}
	return Info{}, fmt.Errorf("%w named %q under %s; present: %s", ErrNotFound, name, classDir(root), seen)
}

// Match says whether profile p fits device in: same driver name and every
// buffer and register inside its map. nil means it fits.
func (p *Profile) Match(in Info) error {
	if p.Name != in.Name {
		return fmt.Errorf("profile %s is for %q, uio%d is %q", p.File, p.Name, in.Index, in.Name)
	}
	return p.fits(in)
}

func (p *Profile) fits(in Info) error {
	for _, m := range p.NeededMaps() {
		var mp *Map
		for i := range in.Maps {
			if in.Maps[i].Index == m {
				mp = &in.Maps[i]
			}
		}
		if mp == nil {
			return fmt.Errorf("profile %s uses map%d, which uio%d does not have", p.File, m, in.Index)
		}
		if ext := p.Extent(m); ext > mp.Size {
			return fmt.Errorf("profile %s reaches %#x bytes into map%d, but uio%d's map%d is %#x bytes", p.File, ext, m, in.Index, m, mp.Size)
		}
	}
	return nil
}
