package resample

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestZitaAnchor measures zita-resampler's VResampler (hlen 32) and this
// package on the same signal, ratio and block size in the same run and logs
// the speed ratio. It asserts nothing about speed (the machine is shared
// and noisy); run it with -v to read the numbers:
//
//	go test ./resample -run ZitaAnchor -v
func TestZitaAnchor(t *testing.T) {
	if testing.Short() {
		t.Skip("speed anchor skipped in -short mode")
	}
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("g++ NOT INSTALLED: cannot build the zita-resampler anchor")
	}
	if _, err := os.Stat("/usr/include/zita-resampler/vresampler.h"); err != nil {
		t.Skip("libzita-resampler-dev NOT INSTALLED: cannot build the zita-resampler anchor")
	}
	bin := filepath.Join(t.TempDir(), "zitabench")
	build := exec.Command(gxx, "-O2", "-o", bin, filepath.Join("testdata", "zitabench", "zitabench.cc"), "-lzita-resampler")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build zitabench: %v\n%s", err, out)
	}
	for _, ch := range []int{2, 8} {
		out, err := exec.Command(bin, strconv.Itoa(ch), "1").Output()
		if err != nil {
			t.Fatalf("zitabench %d: %v", ch, err)
		}
		var zita float64
		if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "x_rt_per_ch %g", &zita); err != nil {
			t.Fatalf("zitabench output %q: %v", out, err)
		}
		for _, k := range kernels() {
			res := testing.Benchmark(func(b *testing.B) { benchProcess(b, ch, Default, k) })
			ours := res.Extra["x_rt/ch"]
			t.Logf("%d ch: zita-resampler hlen 32 %.0fx, sgbridge default/%v %.0fx realtime per channel per core: ratio %.2f",
				ch, zita, k, ours, ours/zita)
		}
	}
}
