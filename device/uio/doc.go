// Package uio is the Linux UIO backend: the seed's SG DMA grabber, whose
// driver exposes its buffers and interrupt through /dev/uioN, read and
// driven from userspace.
//
// It owns:
//
//   - finding a device by name or path under a root (ROOT/sys/class/uio,
//     ROOT/dev; "/" on a real system) and parsing its maps/mapM/{addr,
//     size,offset,name} as hex;
//   - the device profile (TOML): stream format, where each SG buffer lives
//     as (map, offset, length), optional registers; validated with errors
//     that name the file, line and field;
//   - mapping: every map the profile uses is mapped whole at mmap offset
//     M·pagesize (the kernel reads the page number as the map index and
//     always maps from the map's start) and its region begins at the
//     sysfs offset inside the first page. The ring view stitches the
//     buffers into one linear virtual map where each can be mapped on its
//     own at a page boundary, and is a list of slices otherwise;
//   - the interrupt: blocking 4-byte reads of the cumulative count,
//     unmask by writing 1, the count normalised so that Completion 1 is
//     the second interrupt after Start (the first only sets the base: it
//     may have been pending while masked and be delivered at the unmask,
//     a period or more after its buffer completed, and its time would
//     mislead the drift controller). A jump means missed interrupts: the
//     engine counts them and silences buffers already overwritten;
//     EIO, POLLERR or a closed socket mean the device is gone, and
//     Reopen waits for it to come back.
//
// # The emulator protocol
//
// No program can make a real /dev/uioN: mmap and a blocking 4-byte read
// need the kernel. The emulator (package emu, `sgbridge emu`) serves the
// same sysfs tree and, at the device path, a Unix SOCK_SEQPACKET socket.
// Open tells the two apart by the file type of the device path; all else
// is one code path, and only where mmap's file and offset come from
// differs (the map's memfd at 0 instead of the device at M·pagesize).
//
// On connect the emulator sends one hello message, little endian:
//
//	0  [4]byte "SGUI"
//	4  uint32  version (1)
//	8  uint32  n, the number of maps passed (at most 5)
//	12 uint32  the cumulative interrupt count at connect
//	16 n × { uint32 map index; uint32 0; uint64 memfd size }
//
// with n memfds in one SCM_RIGHTS control message, in the same order. A
// memfd holds map M from byte 0 (its region starts at the sysfs offset).
// The emulator's buffers are deliberately discontiguous: spread over
// maps, out of order, with gaps.
//
// After the hello every message is 4 bytes, as read(2) and write(2) on
// /dev/uioN: the emulator sends the cumulative interrupt count (uint32,
// wrapping); the client sends 1 to unmask the interrupt or 0 to mask it.
// A new client starts masked. Sending a count masks the client, as
// uio_pdrv_genirq's handler disables the line until userspace writes 1;
// an interrupt that arrives while masked is delivered at the unmask with
// the count as it is then, so at most one message is ever in flight and
// a read returns a current count, as on the kernel device. The emulator
// vanishing closes the socket: a read returns end of file, which the
// client treats as EIO.
//
// # Real time
//
// Scheduling belongs to the caller: the engine's interrupt loop, which
// calls Wait, arms SCHED_FIFO for its thread's waits (package internal/rt).
// Wait waits through rt.Poll and rt.Watch, so the interrupt, and the
// register watch before it, are waited for at real-time priority and
// stamped there; the Go between them runs at SCHED_OTHER.
package uio
