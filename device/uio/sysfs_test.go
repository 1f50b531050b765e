package uio_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgbridge/sgbridge/device/uio"
)

// tree writes files (path -> content) under a new root.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func goodTree() map[string]string {
	const d = "sys/class/uio/"
	return map[string]string{
		d + "uio0/name":             "other\n",
		d + "uio3/name":             "sgrab\n",
		d + "uio3/maps/map0/addr":   "0x40000000\n",
		d + "uio3/maps/map0/size":   "0x1000\n",
		d + "uio3/maps/map0/offset": "0x0\n",
		d + "uio3/maps/map1/addr":   "0x41000000\n",
		d + "uio3/maps/map1/size":   "0x00008000\n",
		d + "uio3/maps/map1/offset": "0x80\n",
		d + "uio3/maps/map1/name":   "sgbuf\n",
		d + "uio4/name":             "sgrab\n",
		d + "uio10/name":            "sgrab\n",
	}
}

func TestFind(t *testing.T) {
	root := tree(t, goodTree())
	tests := []struct {
		name string
		want int
	}{
		{"sgrab", 3}, {"sgrab0", 3}, {"sgrab1", 4}, {"sgrab2", 10}, {"uio4", 4}, {"other", 0}, {"/dev/uio10", 10},
	}
	for _, tt := range tests {
		in, err := uio.Find(root, tt.name)
		if err != nil || in.Index != tt.want {
			t.Errorf("Find(%q) = uio%d, %v; want uio%d", tt.name, in.Index, err, tt.want)
		}
	}
	in, _ := uio.Find(root, "sgrab")
	if len(in.Maps) != 2 || in.Maps[1] != (uio.Map{Index: 1, Name: "sgbuf", Addr: 0x41000000, Size: 0x8000, Offset: 0x80}) {
		t.Errorf("maps parsed as %+v", in.Maps)
	}
	if in.Dev != filepath.Join(root, "dev", "uio3") {
		t.Errorf("device path %s", in.Dev)
	}
	_, err := uio.Find(root, "sgrab3")
	if !errors.Is(err, uio.ErrNotFound) || !strings.Contains(err.Error(), "uio3 (sgrab)") {
		t.Errorf("missing device: %v", err)
	}
	if l, err := uio.List(t.TempDir()); err != nil || len(l) != 0 {
		t.Errorf("empty root: %v %v", l, err)
	}
}

// A malformed tree gives an error naming the file and what is wrong.
func TestMalformedSysfs(t *testing.T) {
	const m = "sys/class/uio/uio3/maps/"
	tests := []struct {
		name string
		edit func(map[string]string)
		want string
	}{
		{"size not hex", func(f map[string]string) { f[m+"map1/size"] = "lots\n" }, `map1/size: "lots" is not a hex number`},
		{"empty addr", func(f map[string]string) { f[m+"map0/addr"] = "\n" }, `map0/addr: "" is not a hex number`},
		{"missing offset", func(f map[string]string) { delete(f, m+"map1/offset") }, "map1/offset: no such file"},
		{"zero size", func(f map[string]string) { f[m+"map0/size"] = "0x0" }, "map0 has size 0"},
		{"bad map dir", func(f map[string]string) { f[m+"map9/size"] = "0x1" }, "unexpected entry map9 in maps/"},
		{"no name", func(f map[string]string) { delete(f, "sys/class/uio/uio3/name") }, "uio3: open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := goodTree()
			tt.edit(f)
			_, err := uio.Find(tree(t, f), "sgrab")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// A profile that reaches past a map, or uses a map the device lacks, does
// not match; Open says why.
func TestProfileMatch(t *testing.T) {
	root := tree(t, goodTree())
	in, err := uio.Find(root, "sgrab")
	if err != nil {
		t.Fatal(err)
	}
	p := testProfile(t, 2, 64, 8, true) // maps 0, 1, 2
	if err := p.Match(in); err == nil || !strings.Contains(err.Error(), "map2, which uio3 does not have") {
		t.Errorf("Match: %v", err)
	}
	other, _ := uio.Find(root, "other")
	if err := p.Match(other); err == nil || !strings.Contains(err.Error(), `is for "sgrab", uio0 is "other"`) {
		t.Errorf("Match other: %v", err)
	}
	if _, err := uio.Open(uio.Config{Root: root, Name: "sgrab", Profile: p}); err == nil {
		t.Error("Open accepted a mismatched profile")
	}
}
