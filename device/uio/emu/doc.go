// Package emu emulates the seed's SG DMA grabber behind the UIO interface,
// for tests and demos (`sgbridge emu`): it creates ROOT/sys/class/uio/uioN
// with the profile's name and maps, and at ROOT/dev/uioN a Unix socket
// speaking the protocol package uio documents (memfds over SCM_RIGHTS,
// 4-byte interrupt counts, 4-byte unmask writes).
//
// Its DMA runs on its own clock (nominal rate, ppm off) whether or not
// anyone reads: each buffer is written in two halves, the first at the
// middle of its period and the second at its end, when the interrupt
// fires. A reader that falls a whole ring behind therefore finds the
// oldest buffers overwritten, as on hardware. Signals are the simulator's
// (sine, counter, silence); faults are lost interrupts, jitter, stalls of
// the interrupt line, and the device vanishing and returning.
package emu
