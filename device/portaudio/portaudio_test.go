package portaudio

import (
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	pa "github.com/gordonklaus/portaudio"

	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/internal/alsatest"
)

// pcms are the test PCMs of this package, made once: alsa-lib reads its
// configuration once per process.
var pcms *alsatest.Config

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portaudio-test-")
	if err != nil {
		panic(err)
	}
	pcms = &alsatest.Config{Dir: dir, PCMs: []alsatest.PCM{
		{Name: "sgcount", Signal: "counter"},
		{Name: "sgfast", PPM: 500},
		{Name: "sgplug", Signal: "counter"},
		{Name: "sgstop"},
		{Name: "sgerr"},
		{Name: "sglisted", PPM: 10},
		{Name: "sgfreeze", Unplug: "freeze"},
	}}
	code := 0
	if err := pcms.Build(); err != nil {
		if !errors.Is(err, alsatest.ErrNoToolchain) {
			panic(err)
		}
		// Every test below needs the PCM: they skip, loudly.
		pcms = nil
	} else {
		for _, kv := range pcms.Env() {
			k, v, _ := strings.Cut(kv, "=")
			os.Setenv(k, v)
		}
	}
	code = m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needPCMs(t testing.TB) {
	if pcms == nil {
		t.Skip("ALSA test PCM: cc or libasound2-dev NOT INSTALLED")
	}
}

// readCounter opens the counter PCM through cfg and checks every sample of
// n periods: the backend must hand the device's frames over bit-exact, in
// order, in the ring buffer the count names.
func TestCounterBitExact(t *testing.T) {
	needPCMs(t)
	for _, tc := range []struct {
		name   string
		cfg    Config
		decode func(p []byte) int32 // sample -> counter value
	}{
		{"listed/S32", Config{Backend: "alsa", Name: "sgcount", Sample: device.S32LE},
			func(p []byte) int32 { return int32(binary.LittleEndian.Uint32(p)) >> 8 }},
		{"listed/S24_3LE", Config{Backend: "alsa", Name: "sgcount", Sample: device.S24_3LE},
			func(p []byte) int32 { return int32(uint32(p[0])<<8|uint32(p[1])<<16|uint32(p[2])<<24) >> 8 }},
		{"pcm-string/FLOAT", Config{Backend: "alsa", Name: "sgcount", byString: true, Sample: device.FloatLE},
			func(p []byte) int32 {
				var dst [1][1]float32
				device.Convert([][]float32{dst[0][:]}, p, device.FloatLE, 1)
				return int32(dst[0][0] * (1 << 23))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			// 512-frame periods give the test's reader (a plain goroutine,
			// not the engine's real-time loop) 32 ms before the PCM
			// overruns: a loaded CI machine then cannot fake a bug.
			cfg.Channels, cfg.Rate, cfg.Period, cfg.Buffers = 3, 48000, 512, 4
			d, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			f := d.Format()
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			bps := f.Sample.Bytes()
			for want := uint64(1); want <= 100; want++ {
				c, err := d.Wait()
				if err != nil {
					t.Fatal(err)
				}
				if c.Count != want {
					t.Fatalf("count %d, want %d", c.Count, want)
				}
				buf := d.Buffer(int((c.Count - 1) % uint64(f.Buffers)))
				for i := range f.Period {
					n := (c.Count-1)*uint64(f.Period) + uint64(i)
					for ch := range f.Channels {
						got := tc.decode(buf[(i*f.Channels+ch)*bps:])
						if exp := int32((n + 4096*uint64(ch)) & (1<<23 - 1)); got != exp {
							t.Fatalf("frame %d channel %d: %d, want %d", n, ch, got, exp)
						}
					}
				}
			}
			if d.Overflows() != 0 {
				t.Errorf("%d overflows", d.Overflows())
			}
		})
	}
}

// The completions' timestamps must follow the device's clock: a PCM 500
// ppm fast delivers its periods 500 ppm early. The reader runs as the
// engine's does (locked thread, SCHED_FIFO where permitted), and the clock
// is measured from the median stamps of the first and last second: each
// stamp is the middle of the two looks that bracket its period's end, so
// its error is as often early as late, and a look delayed by a loaded
// machine widens one bracket without moving the median.
func TestTimestampsFollowDeviceClock(t *testing.T) {
	needPCMs(t)
	const ppm, period = 500, 256
	defer realtimeThread(t)()
	d := started(t, "sgfast", period, 0)
	// Residual of each stamp from the nominal clock's line; a fast device
	// makes it fall by ppm·1e-6 of a period each period.
	const nominal = float64(period) / 48000 * 1e9
	median := func(ks, rs []float64) (k, r float64) {
		rs = slices.Clone(rs)
		slices.Sort(rs)
		return (ks[0] + ks[len(ks)-1]) / 2, rs[len(rs)/2]
	}
	var ks, rs []float64
	for range 600 { // 3.2 s
		c, err := d.Wait()
		if err != nil {
			t.Fatal(err)
		}
		k := float64(c.Count)
		ks, rs = append(ks, k), append(rs, float64(c.Time)-k*nominal)
	}
	if d.Overflows() != 0 {
		// A restarted stream starts a new device timeline.
		t.Fatalf("%d overflows (%d periods lost): the reader fell 3 periods behind", d.Overflows(), d.LostPeriods())
	}
	k0, r0 := median(ks[100:288], rs[100:288])
	k1, r1 := median(ks[412:], rs[412:])
	got := -(r1 - r0) / (k1 - k0) / nominal * 1e6
	t.Logf("device clock measured from the completions: %+.1f ppm (true %+d)", got, ppm)
	if got < ppm-20 || got > ppm+20 {
		t.Errorf("completions run %+.1f ppm, want %d ± 20", got, ppm)
	}
}

// A device that vanishes makes Wait fail with ErrGone; Reopen waits for it
// and the stream runs again from a fresh count.
func TestVanishAndReopen(t *testing.T) {
	needPCMs(t)
	a := pcms
	d := started(t, "sgplug", 256, 10)
	if err := a.Vanish("sgplug"); err != nil {
		t.Fatal(err)
	}
	var werr error
	for range 100 {
		if _, werr = d.Wait(); werr != nil {
			break
		}
	}
	if !errors.Is(werr, device.ErrGone) {
		t.Fatalf("Wait after vanishing: %v, want ErrGone", werr)
	}
	t.Logf("vanished: %v", werr)
	done := make(chan error, 1)
	go func() { done <- d.Reopen(func() bool { return false }) }()
	select {
	case err := <-done:
		t.Fatalf("Reopen returned while the device is gone: %v", err)
	case <-time.After(3 * ReopenPoll):
	}
	a.Return("sgplug")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Reopen did not return after the device came back")
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := d.Wait()
	if err != nil || c.Count != 1 {
		t.Fatalf("first Wait after Reopen: %v, %v", c, err)
	}
}

// Reopen gives up when told to stop, and Close stays balanced.
func TestReopenStops(t *testing.T) {
	needPCMs(t)
	a := pcms
	d, err := Open(Config{Backend: "alsa", Name: "sgstop", Channels: 1, Rate: 48000})
	if err != nil {
		t.Fatal(err)
	}
	a.Vanish("sgstop")
	deadline := time.Now().Add(600 * time.Millisecond)
	if err := d.Reopen(func() bool { return time.Now().After(deadline) }); !errors.Is(err, device.ErrStopped) {
		t.Fatalf("Reopen: %v, want ErrStopped", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	needPCMs(t)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no such PCM", Config{Backend: "alsa", Name: "nosuchpcm_xyz"}},
		{"no such pa index", Config{Backend: "pa", Name: "99999"}},
		{"no such pa name", Config{Backend: "pa", Name: "nosuchdevice_xyz"}},
		{"too many channels", Config{Backend: "alsa", Name: "sgerr", Channels: 9}},
		{"wrong rate", Config{Backend: "alsa", Name: "sgerr", Rate: 44100}},
		{"S24_LE", Config{Backend: "alsa", Name: "sgerr", Sample: device.S24LE}},
		{"backend", Config{Backend: "oss", Name: "sgerr"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Open(tc.cfg)
			if err == nil {
				d.Close()
				t.Fatalf("Open(%+v) succeeded", tc.cfg)
			}
			t.Logf("%v", err)
		})
	}
}

func TestList(t *testing.T) {
	needPCMs(t)
	infos, err := List("alsa")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, in := range infos {
		t.Logf("%s\t%s", in.Spec, in.Description)
		found = found || in.Spec.Name == "sglisted"
	}
	if !found {
		t.Errorf("alsa:sglisted not listed")
	}
	pinfos, err := List("pa")
	if err != nil || len(pinfos) < len(infos) {
		t.Errorf("pa list: %d devices, %v", len(pinfos), err)
	}
}

func TestMatchALSA(t *testing.T) {
	devs := []*pa.DeviceInfo{
		{Name: "HDA Intel PCH: ALC892 Analog (hw:0,0)"},
		{Name: "USB Audio Device: - (hw:1,0)"},
		{Name: "USB Audio Device: #1 (hw:1,1)"},
		{Name: "default"},
	}
	for _, tc := range []struct{ name, want string }{
		{"hw:1,0", devs[1].Name},
		{"hw:1", devs[1].Name},
		{"hw:1,1", devs[2].Name},
		{"default", "default"},
		{"USB Audio Device: #1 (hw:1,1)", devs[2].Name},
		{"hw:2", ""},
		{"plughw:1,0", ""},
	} {
		got := ""
		if dv := matchALSA(devs, tc.name); dv != nil {
			got = dv.Name
		}
		if got != tc.want {
			t.Errorf("matchALSA(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// started opens the test PCM name as a 2-channel 48 kHz capture device of
// period frames, starts it and waits out periods completions; t.Cleanup
// closes it.
func started(tb testing.TB, name string, period, periods int) *Device {
	tb.Helper()
	d, err := Open(Config{Backend: "alsa", Name: name, Channels: 2, Rate: 48000, Period: period})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	if err := d.Start(); err != nil {
		tb.Fatal(err)
	}
	for range periods {
		if _, err := d.Wait(); err != nil {
			tb.Fatal(err)
		}
	}
	return d
}
