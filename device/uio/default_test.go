package uio_test

import (
	"testing"

	"github.com/sgbridge/sgbridge/device/sim"
	"github.com/sgbridge/sgbridge/device/uio"
	"github.com/sgbridge/sgbridge/device/uio/emu"
	"github.com/sgbridge/sgbridge/packaging/profiles"
)

// The shipped profile, served by the emulator, read for 3 s.
func TestDefaultProfileEmulated(t *testing.T) {
	p, err := uio.ParseProfile(profiles.Default(), profiles.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, p, emu.Config{Signal: sim.Counter}, uio.Config{})
	if !r.dev.Linear() {
		t.Error("the default profile's page-sized buffers were not stitched")
	}
	if err := r.dev.Start(); err != nil {
		t.Fatal(err)
	}
	rd := newReader(t, r.dev)
	for range 300 {
		rd.wait()
	}
}
