package device

import (
	"bytes"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// scatteredMemfd makes a memfd holding n buffers of size bytes at shuffled,
// gapped offsets, like SG buffers allocated at different times, and writes
// buffer i full of byte i+1.
func scatteredMemfd(t *testing.T, n, size, align int) (int, []Region) {
	t.Helper()
	fd, err := unix.MemfdCreate("sgbridge-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	stride := (size + align) / align * align * 2 // gaps between buffers
	if err := unix.Ftruncate(fd, int64(stride*n+align)); err != nil {
		t.Fatal(err)
	}
	regions := make([]Region, n)
	for i := range n {
		slot := (i*5 + 3) % n // a permutation for n = 8: buffers out of order
		off := int64(slot*stride + (align % os.Getpagesize()))
		if align >= os.Getpagesize() {
			off = int64(slot * stride)
		}
		regions[i] = Region{FD: fd, Offset: off, Length: size}
		if _, err := unix.Pwrite(fd, bytes.Repeat([]byte{byte(i + 1)}, size), off); err != nil {
			t.Fatal(err)
		}
	}
	return fd, regions
}

func TestMapRingVirtual(t *testing.T) {
	page := os.Getpagesize()
	_, regions := scatteredMemfd(t, 8, 2*page, page)
	v, err := MapRing(regions, unix.PROT_READ)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	lin := v.Linear()
	if lin == nil {
		t.Fatal("page-aligned buffers did not give a virtual map")
	}
	if len(lin) != 8*2*page {
		t.Fatalf("linear view is %d bytes", len(lin))
	}
	for i := range 8 {
		want := bytes.Repeat([]byte{byte(i + 1)}, 2*page)
		if !bytes.Equal(lin[i*2*page:(i+1)*2*page], want) {
			t.Fatalf("linear view: buffer %d is not where ring order puts it", i)
		}
		if &v.Buffer(i)[0] != &lin[i*2*page] {
			t.Fatalf("Buffer(%d) is not inside the linear map", i)
		}
	}
}

// A write through the file shows in the view: the view maps the buffers,
// it does not copy them.
func TestMapRingSharesMemory(t *testing.T) {
	page := os.Getpagesize()
	fd, regions := scatteredMemfd(t, 8, page, page)
	v, err := MapRing(regions, unix.PROT_READ)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := unix.Pwrite(fd, []byte{0xee}, regions[5].Offset+7); err != nil {
		t.Fatal(err)
	}
	if got := v.Linear()[5*page+7]; got != 0xee {
		t.Fatalf("view did not see the write: %#x", got)
	}
}

func TestMapRingSliceFallback(t *testing.T) {
	// 3000-byte buffers at odd offsets cannot be stitched page by page.
	_, regions := scatteredMemfd(t, 8, 3000, 64)
	v, err := MapRing(regions, unix.PROT_READ)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.Linear() != nil {
		t.Fatal("unaligned buffers claimed a virtual map")
	}
	for i := range 8 {
		b := v.Buffer(i)
		if len(b) != 3000 || !bytes.Equal(b, bytes.Repeat([]byte{byte(i + 1)}, 3000)) {
			t.Fatalf("buffer %d wrong in slice view", i)
		}
	}
}

func TestMapRingErrors(t *testing.T) {
	if _, err := MapRing(nil, unix.PROT_READ); err == nil {
		t.Error("empty ring accepted")
	}
	if _, err := MapRing([]Region{{FD: -1, Length: 4096}}, unix.PROT_READ); err == nil {
		t.Error("bad fd accepted")
	}
	if _, err := MapRing([]Region{{FD: 0, Length: 0}}, unix.PROT_READ); err == nil {
		t.Error("zero-length buffer accepted")
	}
}
