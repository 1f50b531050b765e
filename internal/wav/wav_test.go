package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// chunk is one RIFF chunk for building test files; size < 0 means the real
// body length.
type chunk struct {
	id   string
	body []byte
	size int64
}

func ck(id string, body []byte) chunk { return chunk{id: id, body: body, size: -1} }

// riff builds a RIFF file, padding odd chunks as the format requires.
func riff(form string, chunks ...chunk) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	b.Write([]byte{0, 0, 0, 0})
	b.WriteString("WAVE")
	for _, c := range chunks {
		b.WriteString(c.id)
		size := uint32(len(c.body))
		if c.size >= 0 {
			size = uint32(c.size)
		}
		binary.Write(&b, binary.LittleEndian, size)
		b.Write(c.body)
		if len(c.body)%2 == 1 {
			b.WriteByte(0)
		}
	}
	out := b.Bytes()
	copy(out[0:4], form)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out
}

func fmtBody(tag uint16, channels, rate, bits int) []byte {
	b := make([]byte, 16)
	le := binary.LittleEndian
	le.PutUint16(b[0:], tag)
	le.PutUint16(b[2:], uint16(channels))
	le.PutUint32(b[4:], uint32(rate))
	le.PutUint32(b[8:], uint32(rate*channels*bits/8))
	le.PutUint16(b[12:], uint16(channels*bits/8))
	le.PutUint16(b[14:], uint16(bits))
	return b
}

func extBody(sub uint16, channels, rate, bits, valid int) []byte {
	b := append(fmtBody(tagExtensible, channels, rate, bits), make([]byte, 24)...)
	le := binary.LittleEndian
	le.PutUint16(b[16:], 22)
	le.PutUint16(b[18:], uint16(valid))
	le.PutUint32(b[20:], 0)
	le.PutUint16(b[24:], sub)
	copy(b[26:], guidSuffix[:])
	return b
}

func le16(v ...int16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(x))
	}
	return b
}

func le24(v ...int32) []byte {
	var b []byte
	for _, x := range v {
		b = append(b, byte(x), byte(x>>8), byte(x>>16))
	}
	return b
}

func le32(v ...int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func f32(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func f64(v ...float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

func readAllBytes(t *testing.T, b []byte) (Format, [][]float64) {
	t.Helper()
	f, data, err := ReadAll(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	return f, data
}

// TestScaling checks the exact int->float mapping v/2^(B-1) for every
// sample type, in plain and extensible headers, through both Read methods.
func TestScaling(t *testing.T) {
	k24 := int32(0x123456)
	tests := []struct {
		name string
		fmt  []byte
		data []byte
		want []float64
		form Format
	}{
		{"u8", fmtBody(tagPCM, 1, 8000, 8), []byte{0, 128, 255, 129},
			[]float64{-1, 0, 127.0 / 128, 1.0 / 128}, Format{8000, 1, 8, false}},
		{"s16", fmtBody(tagPCM, 1, 44100, 16), le16(-32768, 0, 1, 32767),
			[]float64{-1, 0, 0x1p-15, 32767 * 0x1p-15}, Format{44100, 1, 16, false}},
		{"s24", fmtBody(tagPCM, 1, 48000, 24), le24(-1<<23, -1, k24, 1<<23-1),
			[]float64{-1, -0x1p-23, float64(k24) / (1 << 23), float64(1<<23-1) / (1 << 23)}, Format{48000, 1, 24, false}},
		{"s32", fmtBody(tagPCM, 1, 48000, 32), le32(math.MinInt32, -1, 3, math.MaxInt32),
			[]float64{-1, -0x1p-31, 3 * 0x1p-31, float64(math.MaxInt32) * 0x1p-31}, Format{48000, 1, 32, false}},
		{"f32", fmtBody(tagFloat, 1, 48000, 32), f32(1.5, -0.1, 1e-30, -2),
			[]float64{1.5, float64(float32(-0.1)), float64(float32(1e-30)), -2}, Format{48000, 1, 32, true}},
		{"f64", fmtBody(tagFloat, 1, 96000, 64), f64(0.1, -1, 1e-300, 3),
			[]float64{0.1, -1, 1e-300, 3}, Format{96000, 1, 64, true}},
		{"ext-s24", extBody(tagPCM, 2, 48000, 24, 24), le24(k24, -k24, 1, -1),
			[]float64{float64(k24) / (1 << 23), 1.0 / (1 << 23)}, Format{48000, 2, 24, false}},
		{"ext-s32-valid24", extBody(tagPCM, 1, 48000, 32, 24), le32(k24<<8, -1<<31),
			[]float64{float64(k24) / (1 << 23), -1}, Format{48000, 1, 32, false}},
		{"ext-f32", extBody(tagFloat, 1, 48000, 32, 32), f32(0.25, -0.75),
			[]float64{0.25, -0.75}, Format{48000, 1, 32, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := riff("RIFF", ck("fmt ", tt.fmt), ck("data", tt.data))
			f, data := readAllBytes(t, file)
			if f != tt.form {
				t.Fatalf("format %+v, want %+v", f, tt.form)
			}
			if !equal64(data[0], tt.want) {
				t.Fatalf("channel 0 = %v, want %v", data[0], tt.want)
			}
			// float32 path: one rounding of the exact value.
			rd, err := NewReader(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			buf := make([][]float32, f.Channels)
			for c := range buf {
				buf[c] = make([]float32, 16)
			}
			n, err := rd.Read(buf)
			if err != nil || n != len(tt.want) {
				t.Fatalf("Read = %d, %v; want %d frames", n, err, len(tt.want))
			}
			for i, w := range tt.want {
				if buf[0][i] != float32(w) {
					t.Errorf("Read[%d] = %v, want %v", i, buf[0][i], float32(w))
				}
			}
			if n, err := rd.Read(buf); n != 0 || err != io.EOF {
				t.Fatalf("Read at end = %d, %v; want 0, EOF", n, err)
			}
		})
	}
}

func equal64(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestChunks covers the layouts real writers produce.
func TestChunks(t *testing.T) {
	pcm := fmtBody(tagPCM, 2, 48000, 16)
	samples := le16(1, 2, 3, 4, 5, 6)
	odd := []byte("odd")
	ds64 := make([]byte, 28)
	binary.LittleEndian.PutUint64(ds64[8:], uint64(len(samples)))
	tests := []struct {
		name   string
		file   []byte
		frames int64 // Frames()
		want   int   // frames actually read
	}{
		{"plain", riff("RIFF", ck("fmt ", pcm), ck("data", samples)), 3, 3},
		{"odd chunks padded", riff("RIFF", ck("LIST", odd), ck("fmt ", pcm), ck("junk", odd), ck("data", samples)), 3, 3},
		{"trailing chunk not audio", riff("RIFF", ck("fmt ", pcm), ck("data", samples), ck("LIST", []byte("abcdefgh"))), 3, 3},
		{"fmt with extra bytes", riff("RIFF", ck("fmt ", append(fmtBody(tagPCM, 2, 48000, 16), 0, 0, 0)), ck("data", samples)), 3, 3},
		{"size 0 read to EOF", riff("RIFF", ck("fmt ", pcm), chunk{"data", samples, 0}), -1, 3},
		{"size FFFFFFFF read to EOF", riff("RIFF", ck("fmt ", pcm), chunk{"data", samples, 0xFFFFFFFF}), -1, 3},
		{"sox pipe placeholder", riff("RIFF", ck("fmt ", pcm), chunk{"data", samples, 0x7FFFF000}), -1, 3},
		{"truncated data", riff("RIFF", ck("fmt ", pcm), chunk{"data", samples, 400}), 100, 3},
		{"partial last frame dropped", riff("RIFF", ck("fmt ", pcm), ck("data", samples[:10])), 2, 2},
		{"rf64", riff("RF64", ck("ds64", ds64), ck("fmt ", pcm), chunk{"data", samples, 0xFFFFFFFF}), 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := NewReader(bytes.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := rd.Frames(); got != tt.frames {
				t.Errorf("Frames() = %d, want %d", got, tt.frames)
			}
			_, data := readAllBytes(t, tt.file)
			if len(data[0]) != tt.want {
				t.Fatalf("read %d frames, want %d", len(data[0]), tt.want)
			}
			for i := range tt.want {
				if data[0][i] != float64(2*i+1)*0x1p-15 || data[1][i] != float64(2*i+2)*0x1p-15 {
					t.Fatalf("frame %d = %v,%v", i, data[0][i], data[1][i])
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	pcm := fmtBody(tagPCM, 1, 48000, 16)
	data := ck("data", le16(1, 2))
	bad := func(mod func(b []byte)) []byte {
		b := fmtBody(tagPCM, 1, 48000, 16)
		mod(b)
		return b
	}
	badGUID := extBody(tagPCM, 1, 48000, 16, 16)
	badGUID[30] = 0x99
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "truncated RIFF header"},
		{"not riff", []byte("OggS\x00\x00\x00\x00WAVEfmt "), `not a RIFF file (starts with "OggS")`},
		{"rifx", riff("RIFX"), "big-endian"},
		{"avi", append([]byte("RIFF\x04\x00\x00\x00"), "AVI "...), `RIFF form type "AVI "`},
		{"no fmt", riff("RIFF", ck("LIST", []byte("ab"))), "no fmt chunk"},
		{"no data", riff("RIFF", ck("fmt ", pcm)), "no data chunk"},
		{"data first", riff("RIFF", data, ck("fmt ", pcm)), "data chunk before fmt chunk"},
		{"short fmt", riff("RIFF", ck("fmt ", pcm[:14]), data), "truncated fmt chunk (14 bytes, need 16)"},
		{"cut fmt", riff("RIFF", chunk{"fmt ", pcm, 16})[:30], "truncated fmt chunk"},
		{"mp3", riff("RIFF", ck("fmt ", bad(func(b []byte) { b[0] = 0x55 })), data), "unsupported format tag 0x0055 (MPEG Layer 3)"},
		{"alaw", riff("RIFF", ck("fmt ", bad(func(b []byte) { b[0] = 6 })), data), "0x0006 (A-law)"},
		{"12 bit", riff("RIFF", ck("fmt ", fmtBody(tagPCM, 1, 48000, 12)), data), "PCM sample size of 12 bits"},
		{"16 bit float", riff("RIFF", ck("fmt ", fmtBody(tagFloat, 1, 48000, 16)), data), "IEEE float sample size of 16 bits"},
		{"0 channels", riff("RIFF", ck("fmt ", bad(func(b []byte) { b[2] = 0 })), data), "0 channels"},
		{"65535 channels", riff("RIFF", ck("fmt ", bad(func(b []byte) { b[2], b[3] = 0xFF, 0xFF })), data), "65535 channels, more than the 1024"},
		{"rate 0", riff("RIFF", ck("fmt ", bad(func(b []byte) { clear(b[4:8]) })), data), "invalid sample rate 0"},
		{"block align", riff("RIFF", ck("fmt ", bad(func(b []byte) { b[12] = 3 })), data), "block align 3, want 2"},
		{"short ext", riff("RIFF", ck("fmt ", extBody(tagPCM, 1, 48000, 16, 16)[:30]), data), "truncated WAVE_FORMAT_EXTENSIBLE"},
		{"ext guid", riff("RIFF", ck("fmt ", badGUID), data), "sub-format GUID"},
		{"huge chunk", riff("RIFF", chunk{"LIST", []byte("x"), 0xFFFFFFF0}), `skipping "LIST" chunk`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.file))
			if err == nil {
				t.Fatalf("NewReader succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "wav: ") {
				t.Fatalf("error %q, want it to start with \"wav: \" and contain %q", err, tt.want)
			}
		})
	}
}

func TestReadArgs(t *testing.T) {
	file := riff("RIFF", ck("fmt ", fmtBody(tagPCM, 2, 48000, 16)), ck("data", le16(1, 2)))
	rd, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Read(make([][]float32, 1)); err == nil || !strings.Contains(err.Error(), "1 channel buffers, file has 2") {
		t.Fatalf("wrong channel count: err = %v", err)
	}
	if n, err := rd.Read([][]float32{{}, {}}); n != 0 || err != nil {
		t.Fatalf("empty buffers: %d, %v; want 0, nil", n, err)
	}
}

// memFile is an in-memory io.WriteSeeker.
type memFile struct {
	b   []byte
	off int64
}

func (m *memFile) Write(p []byte) (int, error) {
	if need := int(m.off) + len(p); need > len(m.b) {
		m.b = append(m.b, make([]byte, need-len(m.b))...)
	}
	copy(m.b[m.off:], p)
	m.off += int64(len(p))
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += m.off
	case io.SeekEnd:
		off += int64(len(m.b))
	}
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	m.off = off
	return off, nil
}

func testSignal(channels, frames int) [][]float32 {
	p := make([][]float32, channels)
	for c := range p {
		p[c] = make([]float32, frames)
		for i := range p[c] {
			p[c][i] = float32(math.Sin(float64(i)*0.01*float64(c+1))) * 0.9
		}
	}
	if frames > 1 { // the writer must not touch values
		p[0][0] = float32(math.Inf(1))
		p[0][1] = math.SmallestNonzeroFloat32
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct{ channels, frames int }{{1, 0}, {1, 1}, {2, 1000}, {3, 70001}} {
		in := testSignal(tc.channels, tc.frames)
		m := &memFile{b: []byte("prefix")} // header not at offset 0
		m.off = 6
		w, err := NewWriter(m, 44100, tc.channels)
		if err != nil {
			t.Fatal(err)
		}
		// Uneven pieces.
		for done := 0; done < tc.frames; {
			n := min(tc.frames-done, 1+done%4093)
			piece := make([][]float32, tc.channels)
			for c := range piece {
				piece[c] = in[c][done : done+n]
			}
			if err := w.Write(piece, n); err != nil {
				t.Fatal(err)
			}
			done += n
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if want := int64(6 + headerSize + 4*tc.channels*tc.frames); m.off != want || int64(len(m.b)) != want {
			t.Fatalf("after Close offset %d, len %d, want %d", m.off, len(m.b), want)
		}
		file := m.b[6:]
		rd, err := NewReader(bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if rd.Frames() != int64(tc.frames) {
			t.Fatalf("Frames() = %d, want %d", rd.Frames(), tc.frames)
		}
		if got := binary.LittleEndian.Uint32(file[4:]); int(got) != len(file)-8 {
			t.Fatalf("RIFF size %d, want %d", got, len(file)-8)
		}
		f, out := readAllBytes(t, file)
		if f != (Format{44100, tc.channels, 32, true}) {
			t.Fatalf("format %+v", f)
		}
		for c := range in {
			if len(out[c]) != tc.frames {
				t.Fatalf("channel %d: %d frames, want %d", c, len(out[c]), tc.frames)
			}
			for i := range in[c] {
				if math.Float32bits(float32(out[c][i])) != math.Float32bits(in[c][i]) {
					t.Fatalf("channel %d frame %d: %v, want %v", c, i, out[c][i], in[c][i])
				}
			}
		}
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wav")
	in := testSignal(2, 4800)
	if err := WriteFile(path, 48000, in); err != nil {
		t.Fatal(err)
	}
	f, out, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Rate != 48000 || len(out) != 2 || len(out[1]) != 4800 || float32(out[1][4799]) != in[1][4799] {
		t.Fatalf("ReadFile: %+v, %d channels", f, len(out))
	}
	if _, _, err := ReadFile(filepath.Join(t.TempDir(), "missing.wav")); err == nil {
		t.Fatal("ReadFile of a missing file succeeded")
	}
}

func TestWriterErrors(t *testing.T) {
	if _, err := NewWriter(&memFile{}, 0, 1); err == nil {
		t.Error("rate 0 accepted")
	}
	if _, err := NewWriter(&memFile{}, 48000, 0); err == nil {
		t.Error("0 channels accepted")
	}
	w, err := NewWriter(&memFile{}, 48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write([][]float32{{1}}, 1); err == nil {
		t.Error("1 channel written to a 2-channel file")
	}
	if err := w.Write([][]float32{{1}, {}}, 1); err == nil {
		t.Error("short channel accepted")
	}
	w.Close()
	if err := w.Write([][]float32{{1}, {1}}, 1); err == nil {
		t.Error("write after Close accepted")
	}
}

// TestShortReads reads through readers that return a byte or half a buffer
// at a time, as pipes do.
func TestShortReads(t *testing.T) {
	m := &memFile{}
	w, _ := NewWriter(m, 48000, 3)
	in := testSignal(3, 5000)
	w.Write(in, 5000)
	w.Close()
	_, want := readAllBytes(t, m.b)
	for name, r := range map[string]io.Reader{
		"onebyte": iotest.OneByteReader(bytes.NewReader(m.b)),
		"half":    iotest.HalfReader(bytes.NewReader(m.b)),
		"dataerr": iotest.DataErrReader(bytes.NewReader(m.b)),
	} {
		_, got, err := ReadAll(r, -1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for c := range want {
			if !equal64(got[c], want[c]) {
				t.Fatalf("%s: channel %d differs", name, c)
			}
		}
	}
	// A read error mid-data is reported, not taken for EOF.
	r := io.MultiReader(bytes.NewReader(m.b[:1000]), iotest.ErrReader(errors.New("disk on fire")))
	if _, _, err := ReadAll(r, -1); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("read error: %v", err)
	}
}
