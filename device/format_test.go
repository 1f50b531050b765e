package device

import (
	"errors"
	"testing"
)

func TestParseSampleFormat(t *testing.T) {
	for _, f := range SampleFormats() {
		got, err := ParseSampleFormat(f.String())
		if err != nil || got != f {
			t.Errorf("ParseSampleFormat(%q) = %v, %v", f.String(), got, err)
		}
	}
	for in, want := range map[string]SampleFormat{"s16le": S16LE, "S24_3LE": S24_3LE, "float": FloatLE, " s32_le ": S32LE} {
		if got, err := ParseSampleFormat(in); err != nil || got != want {
			t.Errorf("ParseSampleFormat(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseSampleFormat("U8"); err == nil {
		t.Error("U8 accepted")
	}
}

func TestFormatValidate(t *testing.T) {
	ok := Format{Rate: 48000, Channels: 2, Sample: S32LE, Period: 256, Buffers: 8}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid format rejected: %v", err)
	}
	if ok.BufferBytes() != 256*2*4 {
		t.Errorf("BufferBytes = %d", ok.BufferBytes())
	}
	bad := map[string]func(*Format){
		"0 channels":  func(f *Format) { f.Channels = 0 },
		"65 channels": func(f *Format) { f.Channels = 65 },
		"rate 0":      func(f *Format) { f.Rate = 0 },
		"period 1":    func(f *Format) { f.Period = 1 },
		"1 buffer":    func(f *Format) { f.Buffers = 1 },
		"no sample":   func(f *Format) { f.Sample = 0 },
	}
	for name, mod := range bad {
		f := ok
		mod(&f)
		if err := f.Validate(); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Validate = %v, want ErrFormat", name, err)
		}
	}
}
