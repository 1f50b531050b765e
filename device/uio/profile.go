package uio

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/sgbridge/sgbridge/device"
)

// MaxMaps is the kernel's MAX_UIO_MAPS: a UIO device exposes at most this
// many memory maps, which is why the profile places buffers by map.
const MaxMaps = 5

// maxOffset bounds offsets and lengths so sums never overflow; no UIO map
// is anywhere near 1 TiB.
const maxOffset = 1 << 40

// Profile describes where a device's SG buffers and registers live inside
// its UIO maps, and the stream they carry.
type Profile struct {
	File        string // where it was read from, for messages
	Name        string // the UIO device name it matches
	Description string
	Format      device.Format
	Buffers     []Placement // in completion order, len == Format.Buffers
	Registers   *Registers  // nil: the device has none the profile names
}

// Placement is where one SG buffer lives: Length bytes at Offset of map Map.
type Placement struct {
	Map    int
	Offset int64
	Length int
}

// Registers are optional 32-bit little-endian device registers in one map.
// An offset of -1 means the register is absent.
type Registers struct {
	Map           int
	IRQStatus     int64
	IRQAck        int64
	AckValue      uint32
	CurrentBuffer int64
}

// rawProfile is the TOML as written; pointers tell absent from zero.
type rawProfile struct {
	Name        string       `toml:"name"`
	Description string       `toml:"description"`
	Rate        *int64       `toml:"rate"`
	Channels    *int64       `toml:"channels"`
	Format      *string      `toml:"format"`
	Period      *int64       `toml:"period"`
	Buffers     *int64       `toml:"buffers"`
	Buffer      []rawBuffer  `toml:"buffer"`
	Registers   *rawRegister `toml:"registers"`
}

type rawBuffer struct {
	Map    *int64 `toml:"map"`
	Offset *int64 `toml:"offset"`
	Length *int64 `toml:"length"`
}

type rawRegister struct {
	Map           *int64 `toml:"map"`
	IRQStatus     *int64 `toml:"irq_status"`
	IRQAck        *int64 `toml:"irq_ack"`
	AckValue      *int64 `toml:"ack_value"`
	CurrentBuffer *int64 `toml:"current_buffer"`
}

var decodeErrRe = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// LoadProfile reads and validates the profile at path.
func LoadProfile(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	return ParseProfile(b, path)
}

// ParseProfile parses and validates a profile; file names it in errors.
// Every error names the file, the line and the field.
func ParseProfile(data []byte, file string) (*Profile, error) {
	if file == "" {
		file = "profile"
	}
	var raw rawProfile
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", file, pe.Position.Line, pe.Message)
		}
		// Type mismatches come as plain errors with the line in the text.
		if m := decodeErrRe.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("%s:%s: %s: %s", file, m[1], fieldName(m[2]), m[3])
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	v := validator{file: file, lines: indexKeys(data)}
	if un := md.Undecoded(); len(un) > 0 {
		k := []string(un[0])
		return nil, v.errf(k, "unknown field %q (fields are name, description, rate, channels, format, period, buffers, [registers], [[buffer]])", un[0].String())
	}
	return v.profile(&raw)
}

type validator struct {
	file  string
	lines map[string]int // "buffer.3.offset" -> line
}

// errf formats an error at the line of key (or of its nearest parent).
func (v *validator) errf(key []string, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	name := strings.Join(key, ".")
	for k := key; len(k) > 0; k = k[:len(k)-1] {
		if line, ok := v.lines[strings.Join(k, ".")]; ok {
			return fmt.Errorf("%s:%d: %s: %s", v.file, line, fieldName(name), msg)
		}
	}
	return fmt.Errorf("%s: %s: %s", v.file, fieldName(name), msg)
}

// fieldName renders "buffer.3.offset" as "buffer[3].offset".
func fieldName(key string) string {
	parts := strings.Split(key, ".")
	var b strings.Builder
	for i, p := range parts {
		if p != "" && p[0] >= '0' && p[0] <= '9' {
			b.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func (v *validator) need(p *int64, key string, lo, hi int64) (int64, error) {
	if p == nil {
		return 0, v.errf([]string{key}, "missing (required)")
	}
	if *p < lo || *p > hi {
		return 0, v.errf([]string{key}, "%d is outside %d..%d", *p, lo, hi)
	}
	return *p, nil
}

func (v *validator) profile(raw *rawProfile) (*Profile, error) {
	p := &Profile{File: v.file, Name: strings.TrimSpace(raw.Name), Description: raw.Description}
	if p.Name == "" {
		return nil, v.errf([]string{"name"}, "missing: give the name the driver reports in /sys/class/uio/uioN/name")
	}
	if strings.ContainsAny(p.Name, "/\n\x00") {
		return nil, v.errf([]string{"name"}, "%q is not a UIO device name", p.Name)
	}
	var err error
	f := &p.Format
	var n int64
	if n, err = v.need(raw.Rate, "rate", device.MinRate, device.MaxRate); err != nil {
		return nil, err
	}
	f.Rate = int(n)
	if n, err = v.need(raw.Channels, "channels", device.MinChannels, device.MaxChannels); err != nil {
		return nil, err
	}
	f.Channels = int(n)
	if raw.Format == nil {
		return nil, v.errf([]string{"format"}, "missing (required): S16_LE, S24_3LE, S24_LE, S32_LE or FLOAT_LE")
	}
	if f.Sample, err = device.ParseSampleFormat(*raw.Format); err != nil {
		return nil, v.errf([]string{"format"}, "%v", err)
	}
	if n, err = v.need(raw.Period, "period", device.MinPeriod, device.MaxPeriod); err != nil {
		return nil, err
	}
	f.Period = int(n)
	if n, err = v.need(raw.Buffers, "buffers", device.MinBuffers, device.MaxBuffers); err != nil {
		return nil, err
	}
	f.Buffers = int(n)
	if err := f.Validate(); err != nil { // belt and braces: the ranges above are Validate's
		return nil, fmt.Errorf("%s: %w", v.file, err)
	}
	if len(raw.Buffer) != f.Buffers {
		return nil, v.errf([]string{"buffers"}, "says %d buffers but the profile places %d ([[buffer]] entries)", f.Buffers, len(raw.Buffer))
	}
	size := f.BufferBytes()
	for i, rb := range raw.Buffer {
		key := func(k string) []string { return []string{"buffer", fmt.Sprint(i), k} }
		var b Placement
		if rb.Map == nil {
			return nil, v.errf(key("map"), "missing (required): the UIO map 0..%d holding buffer %d", MaxMaps-1, i)
		}
		if *rb.Map < 0 || *rb.Map >= MaxMaps {
			return nil, v.errf(key("map"), "%d: a UIO device has maps 0..%d", *rb.Map, MaxMaps-1)
		}
		b.Map = int(*rb.Map)
		if rb.Offset == nil {
			return nil, v.errf(key("offset"), "missing (required)")
		}
		if *rb.Offset < 0 || *rb.Offset > maxOffset {
			return nil, v.errf(key("offset"), "%#x is outside 0..%#x", *rb.Offset, int64(maxOffset))
		}
		b.Offset = *rb.Offset
		b.Length = size
		if rb.Length != nil && *rb.Length != int64(size) {
			return nil, v.errf(key("length"), "%d bytes, but one period of %d frames x %d ch x %s is %d bytes", *rb.Length, f.Period, f.Channels, f.Sample, size)
		}
		for j, o := range p.Buffers {
			if o.Map == b.Map && b.Offset < o.Offset+int64(o.Length) && o.Offset < b.Offset+int64(b.Length) {
				return nil, v.errf(key("offset"), "buffer %d (map %d, %#x..%#x) overlaps buffer %d (%#x..%#x)",
					i, b.Map, b.Offset, b.Offset+int64(b.Length), j, o.Offset, o.Offset+int64(o.Length))
			}
		}
		p.Buffers = append(p.Buffers, b)
	}
	if raw.Registers != nil {
		r, err := v.registers(raw.Registers, p.Buffers)
		if err != nil {
			return nil, err
		}
		p.Registers = r
	}
	return p, nil
}

func (v *validator) registers(rr *rawRegister, bufs []Placement) (*Registers, error) {
	key := func(k string) []string { return []string{"registers", k} }
	if rr.Map == nil {
		return nil, v.errf(key("map"), "missing: which map (0..%d) holds the registers", MaxMaps-1)
	}
	if *rr.Map < 0 || *rr.Map >= MaxMaps {
		return nil, v.errf(key("map"), "%d: a UIO device has maps 0..%d", *rr.Map, MaxMaps-1)
	}
	r := &Registers{Map: int(*rr.Map), IRQStatus: -1, IRQAck: -1, CurrentBuffer: -1, AckValue: 1}
	for _, x := range []struct {
		name string
		in   *int64
		out  *int64
	}{
		{"irq_status", rr.IRQStatus, &r.IRQStatus},
		{"irq_ack", rr.IRQAck, &r.IRQAck},
		{"current_buffer", rr.CurrentBuffer, &r.CurrentBuffer},
	} {
		if x.in == nil {
			continue
		}
		o := *x.in
		if o < 0 || o > maxOffset || o%4 != 0 {
			return nil, v.errf(key(x.name), "offset %#x must be a non-negative multiple of 4", o)
		}
		for i, b := range bufs {
			if b.Map == r.Map && o < b.Offset+int64(b.Length) && b.Offset < o+4 {
				return nil, v.errf(key(x.name), "register at %#x of map %d lies inside buffer %d", o, r.Map, i)
			}
		}
		*x.out = o
	}
	if rr.AckValue != nil {
		if rr.IRQAck == nil {
			return nil, v.errf(key("ack_value"), "given without irq_ack")
		}
		if *rr.AckValue < 0 || *rr.AckValue > 0xffffffff {
			return nil, v.errf(key("ack_value"), "%d does not fit 32 bits", *rr.AckValue)
		}
		r.AckValue = uint32(*rr.AckValue)
	}
	return r, nil
}

// indexKeys finds the line of every key a TOML text defines, as dotted
// paths with array-of-table indexes ("buffer.2.offset", "registers.map").
// The toml package reports positions only for syntax and type errors, so
// validation errors find their line here. It understands what profiles
// use: [table], [[array]], key = value, comments; anything else is
// skipped, and errf falls back to the nearest parent it found.
func indexKeys(data []byte) map[string]int {
	lines := map[string]int{}
	count := map[string]int{}
	prefix := ""
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || l[0] == '#':
			continue
		case strings.HasPrefix(l, "[["):
			name, _, ok := strings.Cut(l[2:], "]]")
			if !ok {
				continue
			}
			name = strings.TrimSpace(name)
			prefix = fmt.Sprintf("%s.%d", name, count[name])
			count[name]++
			lines[prefix] = i + 1
			if _, ok := lines[name]; !ok {
				lines[name] = i + 1
			}
		case l[0] == '[':
			name, _, ok := strings.Cut(l[1:], "]")
			if !ok {
				continue
			}
			prefix = strings.TrimSpace(name)
			lines[prefix] = i + 1
		default:
			k, _, ok := strings.Cut(l, "=")
			if !ok {
				continue
			}
			k = strings.Trim(strings.TrimSpace(k), `"'`)
			if prefix != "" {
				k = prefix + "." + k
			}
			if _, dup := lines[k]; !dup {
				lines[k] = i + 1
			}
		}
	}
	return lines
}

// NeededMaps lists the maps the profile uses, ascending.
func (p *Profile) NeededMaps() []int {
	var used [MaxMaps]bool
	for _, b := range p.Buffers {
		used[b.Map] = true
	}
	if p.Registers != nil {
		used[p.Registers.Map] = true
	}
	var m []int
	for i, u := range used {
		if u {
			m = append(m, i)
		}
	}
	return m
}

// Extent is the number of bytes of map m the profile reaches into.
func (p *Profile) Extent(m int) int64 {
	var end int64
	for _, b := range p.Buffers {
		if b.Map == m && b.Offset+int64(b.Length) > end {
			end = b.Offset + int64(b.Length)
		}
	}
	if r := p.Registers; r != nil && r.Map == m {
		for _, o := range []int64{r.IRQStatus, r.IRQAck, r.CurrentBuffer} {
			if o >= 0 && o+4 > end {
				end = o + 4
			}
		}
	}
	return end
}
