package uio_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/device/uio"
	"github.com/sgbridge/sgbridge/packaging/profiles"
)

func TestDefaultProfile(t *testing.T) {
	p, err := uio.ParseProfile(profiles.Default(), profiles.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	want := device.Format{Rate: 48000, Channels: 2, Sample: device.S32LE, Period: 512, Buffers: 8}
	if p.Name != "sgrab" || p.Format != want {
		t.Fatalf("default profile: %q %v", p.Name, p.Format)
	}
	if p.Registers == nil || p.Registers.CurrentBuffer != 8 || p.Registers.IRQAck != 4 || p.Registers.AckValue != 1 {
		t.Errorf("registers: %+v", p.Registers)
	}
	if got := p.NeededMaps(); len(got) != 3 {
		t.Errorf("maps used: %v", got)
	}
	// The seed's buffers are discontiguous: no two consecutive buffers
	// are adjacent in the same map.
	for i := 1; i < len(p.Buffers); i++ {
		a, b := p.Buffers[i-1], p.Buffers[i]
		if a.Map == b.Map && a.Offset+int64(a.Length) == b.Offset {
			t.Errorf("buffers %d and %d are contiguous", i-1, i)
		}
	}
}

const good = `name = "sgrab"
rate = 48000
channels = 2
format = "S32_LE"
period = 64
buffers = 2

[registers]
map = 0
irq_ack = 0x4

[[buffer]]
map = 1
offset = 0x0

[[buffer]]
map = 1
offset = 0x1000
`

// Every error names the file, the line and the field.
func TestProfileErrors(t *testing.T) {
	tests := []struct {
		name, old, new string
		want           string
	}{
		{"syntax", `rate = 48000`, `rate = = 48000`, "p.toml:2:"},
		{"type", `rate = 48000`, `rate = "fast"`, "p.toml:2:"},
		{"unknown field", `channels = 2`, "channels = 2\nchanels = 3", `p.toml:4: chanels: unknown field`},
		{"rate range", `rate = 48000`, `rate = 5`, "p.toml:2: rate: 5 is outside 8000..768000"},
		{"no channels", "channels = 2\n", "", "p.toml: channels: missing"},
		{"bad format", `"S32_LE"`, `"U8"`, `p.toml:4: format: unknown sample format "U8"`},
		{"count mismatch", `buffers = 2`, `buffers = 3`, "p.toml:6: buffers: says 3 buffers but the profile places 2"},
		{"map range", "map = 1\noffset = 0x1000", "map = 5\noffset = 0x1000", "p.toml:17: buffer[1].map: 5: a UIO device has maps 0..4"},
		{"overlap", "offset = 0x1000", "offset = 0x100", "p.toml:18: buffer[1].offset: buffer 1 (map 1, 0x100..0x300) overlaps buffer 0"},
		{"length", "offset = 0x1000", "offset = 0x1000\nlength = 100", "p.toml:19: buffer[1].length: 100 bytes, but one period"},
		{"register misaligned", "irq_ack = 0x4", "irq_ack = 0x6", "p.toml:10: registers.irq_ack: offset 0x6 must be"},
		{"register in buffer", "map = 0\nirq_ack", "map = 1\nirq_ack", "p.toml:10: registers.irq_ack: register at 0x4 of map 1 lies inside buffer 0"},
		{"ack value without register", "irq_ack = 0x4", "ack_value = 3", "registers.ack_value: given without irq_ack"},
		{"no name", `name = "sgrab"`, `description = "x"`, "p.toml: name: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(good, tt.old, tt.new, 1)
			if src == good {
				t.Fatalf("test does not change the profile")
			}
			_, err := uio.ParseProfile([]byte(src), "p.toml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := uio.ParseProfile([]byte(good), "p.toml"); err != nil {
		t.Fatalf("good profile: %v", err)
	}
}

func TestInlineBuffers(t *testing.T) {
	src := `name = "x"
rate = 44100
channels = 1
format = "S16_LE"
period = 32
buffers = 3
buffer = [ {map = 0, offset = 0}, {map = 0, offset = 128}, {map = 2, offset = 64, length = 64} ]
`
	p, err := uio.ParseProfile([]byte(src), "i.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Buffers) != 3 || p.Buffers[2] != (uio.Placement{Map: 2, Offset: 64, Length: 64}) {
		t.Fatalf("buffers %+v", p.Buffers)
	}
	if p.Extent(0) != 192 || p.Extent(2) != 128 {
		t.Errorf("extents %d %d", p.Extent(0), p.Extent(2))
	}
}

func FuzzParseProfile(f *testing.F) {
	f.Add([]byte(good))
	f.Add(profiles.Default())
	f.Add([]byte("buffer = [ {map = 0, offset = 0} ]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := uio.ParseProfile(data, "fuzz.toml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.toml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := p.Format.Validate(); err != nil {
			t.Fatalf("accepted an invalid format: %v", err)
		}
		if len(p.Buffers) != p.Format.Buffers {
			t.Fatalf("%d buffers placed for %d", len(p.Buffers), p.Format.Buffers)
		}
		for i, b := range p.Buffers {
			if b.Map < 0 || b.Map >= uio.MaxMaps || b.Offset < 0 || b.Length != p.Format.BufferBytes() {
				t.Fatalf("buffer %d accepted: %+v", i, b)
			}
			for j := range i {
				o := p.Buffers[j]
				if o.Map == b.Map && b.Offset < o.Offset+int64(o.Length) && o.Offset < b.Offset+int64(b.Length) {
					t.Fatalf("buffers %d and %d overlap", j, i)
				}
			}
		}
	})
}

func FuzzParseHello(f *testing.F) {
	h := uio.Hello{Count: 7, Maps: []uio.HelloMap{{Index: 0, Size: 4096}, {Index: 2, Size: 8192}}}
	b, _ := h.MarshalBinary()
	f.Add(b, 2)
	f.Add([]byte("SGUI"), 0)
	f.Fuzz(func(t *testing.T, data []byte, nfds int) {
		h, err := uio.ParseHello(data, nfds)
		if err != nil {
			if !errors.Is(err, uio.ErrProtocol) {
				t.Fatalf("error not ErrProtocol: %v", err)
			}
			return
		}
		if len(h.Maps) != nfds || len(h.Maps) > uio.MaxMaps {
			t.Fatalf("%d maps for %d fds", len(h.Maps), nfds)
		}
		again, err := h.MarshalBinary()
		if err != nil || string(again) != string(data) {
			t.Fatalf("hello does not round-trip: %v", err)
		}
	})
}
