package wav

import (
	"bytes"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the reader. It must never panic, and
// it must not allocate in proportion to sizes a header merely claims: every
// allocation is bounded by MaxChannels, the internal buffer size or the
// input length.
func FuzzReader(f *testing.F) {
	pcm := fmtBody(tagPCM, 2, 48000, 16)
	f.Add(riff("RIFF", ck("fmt ", pcm), ck("data", le16(1, 2, 3, 4))))
	f.Add(riff("RIFF", ck("fmt ", extBody(tagFloat, 1, 48000, 32, 32)), chunk{"data", f32(0.5, -1), 0}))
	f.Add(riff("RF64", ck("ds64", make([]byte, 28)), ck("fmt ", fmtBody(tagPCM, 1, 8000, 24)), chunk{"data", le24(1, 2), 0xFFFFFFFF}))
	f.Add(riff("RIFF", ck("LIST", []byte("odd")), ck("fmt ", fmtBody(tagPCM, 1024, 8000, 8)), chunk{"data", []byte{1, 2, 3}, 0x7FFFF000}))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		fm := rd.Format()
		if fm.Channels < 1 || fm.Channels > MaxChannels || fm.Rate <= 0 {
			t.Fatalf("accepted format %+v", fm)
		}
		buf := make([][]float32, fm.Channels)
		for c := range buf {
			buf[c] = make([]float32, 7)
		}
		total := int64(0)
		for {
			n, err := rd.Read(buf)
			if n < 0 || n > 7 {
				t.Fatalf("Read returned %d frames into 7", n)
			}
			total += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Read on a bytes.Reader: %v", err)
			}
			if n == 0 {
				t.Fatal("Read returned 0 frames without error")
			}
		}
		if rd.Frames() >= 0 && total > rd.Frames() {
			t.Fatalf("read %d frames, header declared %d", total, rd.Frames())
		}
		if total*int64(fm.Channels*fm.Bits/8) > int64(len(data)) {
			t.Fatalf("read %d frames from %d bytes", total, len(data))
		}
		_, all, err := ReadAll(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("ReadAll failed after NewReader succeeded: %v", err)
		}
		if int64(len(all[0])) != total {
			t.Fatalf("ReadAll read %d frames, Read %d", len(all[0]), total)
		}
	})
}
