package device

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmapFixed maps r over the reserved address at. x/sys/unix.Mmap cannot
// place a mapping, so this is the raw syscall; the reservation owns the
// address range and is what Close unmaps.
func mmapFixed(at *byte, r Region, prot int) error {
	addr := uintptr(unsafe.Pointer(at))
	got, _, errno := unix.Syscall6(unix.SYS_MMAP, addr, uintptr(r.Length), uintptr(prot),
		uintptr(unix.MAP_SHARED|unix.MAP_FIXED), uintptr(r.FD), uintptr(r.Offset))
	if errno != 0 {
		return errno
	}
	if got != addr {
		return unix.EINVAL
	}
	return nil
}
