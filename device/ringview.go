package device

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Region is where one SG buffer lives: Length bytes at Offset of the
// mappable file FD (a UIO device, a memfd from the emulator, ...).
type Region struct {
	FD     int
	Offset int64
	Length int
}

// RingView is the ring of SG buffers as the engine reads it. When every
// buffer starts on a page boundary and is a whole number of pages long it is
// a virtual map: one address range reserved with mmap(PROT_NONE) and each
// buffer mapped into it with MAP_FIXED, so the discontiguous buffers read as
// one linear buffer (what the seed mail asks for, done in userspace). Other
// layouts fall back to a list of separate mappings. Both views give the
// same Buffer(i).
type RingView struct {
	bufs   [][]byte
	linear []byte   // the virtual map, nil for a slice list
	maps   [][]byte // what Close unmaps
}

// MapRing maps regions in ring order with protection prot
// (unix.PROT_READ, or PROT_READ|PROT_WRITE for a producer).
func MapRing(regions []Region, prot int) (*RingView, error) {
	if len(regions) == 0 {
		return nil, errors.New("map SG ring: no buffers")
	}
	for i, r := range regions {
		if r.Length <= 0 || r.Offset < 0 {
			return nil, fmt.Errorf("map SG ring: buffer %d: offset %d length %d", i, r.Offset, r.Length)
		}
	}
	if pageAligned(regions) {
		v, err := mapVirtual(regions, prot)
		if err == nil {
			return v, nil
		}
		// A kernel that refuses MAP_FIXED into the reservation still lets
		// us map buffers one by one.
	}
	return mapSlices(regions, prot)
}

// SliceRing wraps buffers that are already in memory (a backend that
// copies from a driver, a test) as a slice-list view. Close is a no-op.
func SliceRing(bufs [][]byte) *RingView {
	return &RingView{bufs: bufs}
}

func pageAligned(regions []Region) bool {
	page := int64(os.Getpagesize())
	for _, r := range regions {
		if r.Offset%page != 0 || int64(r.Length)%page != 0 {
			return false
		}
	}
	return true
}

func mapVirtual(regions []Region, prot int) (*RingView, error) {
	total := 0
	for _, r := range regions {
		total += r.Length
	}
	// Reserve the range first so nothing else can land between buffers.
	res, err := unix.Mmap(-1, 0, total, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("reserve %d bytes: %w", total, err)
	}
	v := &RingView{linear: res, maps: [][]byte{res}}
	off := 0
	for i, r := range regions {
		if err := mmapFixed(&res[off], r, prot); err != nil {
			v.Close()
			return nil, fmt.Errorf("map buffer %d at +%d: %w", i, off, err)
		}
		v.bufs = append(v.bufs, res[off:off+r.Length:off+r.Length])
		off += r.Length
	}
	return v, nil
}

func mapSlices(regions []Region, prot int) (*RingView, error) {
	page := int64(os.Getpagesize())
	v := &RingView{}
	for i, r := range regions {
		start := r.Offset &^ (page - 1)
		skip := int(r.Offset - start)
		m, err := unix.Mmap(r.FD, start, skip+r.Length, prot, unix.MAP_SHARED)
		if err != nil {
			v.Close()
			return nil, fmt.Errorf("map SG buffer %d (offset %#x, %d bytes): %w", i, r.Offset, r.Length, err)
		}
		v.maps = append(v.maps, m)
		v.bufs = append(v.bufs, m[skip:skip+r.Length:skip+r.Length])
	}
	return v, nil
}

// Len is the number of buffers.
func (v *RingView) Len() int { return len(v.bufs) }

// Buffer returns buffer i.
func (v *RingView) Buffer(i int) []byte { return v.bufs[i] }

// Linear returns the whole ring as one slice when it is a virtual map, nil
// when it is a slice list.
func (v *RingView) Linear() []byte { return v.linear }

// Close unmaps everything MapRing mapped. The reservation is unmapped as a
// whole, which also drops the buffers mapped into it.
func (v *RingView) Close() error {
	var first error
	for _, m := range v.maps {
		if err := unix.Munmap(m); err != nil && first == nil {
			first = err
		}
	}
	v.maps, v.bufs, v.linear = nil, nil, nil
	return first
}
