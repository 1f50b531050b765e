package uio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The emulator protocol; doc.go describes it in prose.
const (
	helloMagic   = "SGUI"
	ProtoVersion = 1
	helloHeader  = 16 // magic, version, nmaps, count
	helloPerMap  = 16 // index, reserved, size
	// HelloMax bounds a hello message: MaxMaps entries.
	HelloMax = helloHeader + MaxMaps*helloPerMap
	// MsgSize is the size of every message after the hello: a cumulative
	// interrupt count from the emulator, a mask (0) or unmask (1) from the
	// client, both little-endian uint32, as read(2)/write(2) on /dev/uioN.
	MsgSize = 4
)

// Hello is the emulator's first message: the maps it passes (one memfd
// each, in this order, as SCM_RIGHTS on the same message) and the
// interrupt count when the client connected.
type Hello struct {
	Count uint32
	Maps  []HelloMap
}

// HelloMap is one passed map: its UIO index and the memfd's size.
type HelloMap struct {
	Index int
	Size  int64
}

// ErrProtocol is wrapped by every malformed-message error.
var ErrProtocol = errors.New("uio emulator protocol")

// MarshalBinary encodes h.
func (h Hello) MarshalBinary() ([]byte, error) {
	if len(h.Maps) > MaxMaps {
		return nil, fmt.Errorf("%w: %d maps, at most %d", ErrProtocol, len(h.Maps), MaxMaps)
	}
	b := make([]byte, helloHeader, helloHeader+len(h.Maps)*helloPerMap)
	copy(b, helloMagic)
	binary.LittleEndian.PutUint32(b[4:], ProtoVersion)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(h.Maps)))
	binary.LittleEndian.PutUint32(b[12:], h.Count)
	for _, m := range h.Maps {
		b = binary.LittleEndian.AppendUint32(b, uint32(m.Index))
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint64(b, uint64(m.Size))
	}
	return b, nil
}

// ParseHello decodes a hello message that arrived with nfds descriptors.
func ParseHello(b []byte, nfds int) (Hello, error) {
	var h Hello
	if len(b) < helloHeader || string(b[:4]) != helloMagic {
		return h, fmt.Errorf("%w: not an sgbridge emulator (bad hello, %d bytes)", ErrProtocol, len(b))
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != ProtoVersion {
		return h, fmt.Errorf("%w: version %d, this sgbridge speaks %d", ErrProtocol, v, ProtoVersion)
	}
	n := binary.LittleEndian.Uint32(b[8:])
	if n > MaxMaps {
		return h, fmt.Errorf("%w: %d maps, at most %d", ErrProtocol, n, MaxMaps)
	}
	if len(b) != helloHeader+int(n)*helloPerMap {
		return h, fmt.Errorf("%w: hello of %d bytes for %d maps", ErrProtocol, len(b), n)
	}
	if nfds != int(n) {
		return h, fmt.Errorf("%w: %d maps but %d descriptors passed", ErrProtocol, n, nfds)
	}
	h.Count = binary.LittleEndian.Uint32(b[12:])
	seen := 0
	for i := range int(n) {
		p := b[helloHeader+i*helloPerMap:]
		idx := binary.LittleEndian.Uint32(p)
		size := binary.LittleEndian.Uint64(p[8:])
		if binary.LittleEndian.Uint32(p[4:]) != 0 {
			return h, fmt.Errorf("%w: map entry %d: reserved field is not 0", ErrProtocol, i)
		}
		if idx >= MaxMaps || seen&(1<<idx) != 0 {
			return h, fmt.Errorf("%w: map index %d repeated or above %d", ErrProtocol, idx, MaxMaps-1)
		}
		if size == 0 || size > maxOffset {
			return h, fmt.Errorf("%w: map%d size %d", ErrProtocol, idx, size)
		}
		seen |= 1 << idx
		h.Maps = append(h.Maps, HelloMap{Index: int(idx), Size: int64(size)})
	}
	return h, nil
}
