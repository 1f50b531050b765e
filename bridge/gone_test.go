package bridge

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgbridge/sgbridge/device"
	"github.com/sgbridge/sgbridge/device/sim"
)

// vanishing is a simulated device that goes away after a number of
// interrupts and comes back when reopened.
type vanishing struct {
	*sim.Grabber
	after   int
	waits   int
	reopens atomic.Int32
}

func (v *vanishing) Wait() (device.Completion, error) {
	if v.waits++; v.waits == v.after {
		return device.Completion{}, fmt.Errorf("read /dev/uio0: %w", device.ErrGone)
	}
	return v.Grabber.Wait()
}

func (v *vanishing) Reopen(stop func() bool) error {
	time.Sleep(100 * time.Millisecond)
	v.reopens.Add(1)
	return v.Grabber.Restart()
}

func TestDeviceGoneAndBack(t *testing.T) {
	for _, wait := range []bool{true, false} {
		g, err := sim.New(sim.Config{Format: counterFormat(2), Signal: sim.Sine})
		if err != nil {
			t.Fatal(err)
		}
		dev := &vanishing{Grabber: g, after: 40}
		sink := &goSink{fakeSink: newFakeSink(48000, 256), stop: make(chan struct{})}
		e, err := New(Config{Device: dev, Sink: sink, WaitForDevice: wait, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
		err = e.Run(ctx)
		cancel()
		close(sink.stop)
		sink.wg.Wait()
		s := e.Stats()
		if wait {
			if err != nil {
				t.Errorf("--wait: Run = %v", err)
			}
			if s.DeviceReturns != 1 || dev.reopens.Load() != 1 {
				t.Errorf("device returned %d times, reopened %d", s.DeviceReturns, dev.reopens.Load())
			}
			if s.Interrupts < 60 {
				t.Errorf("only %d interrupts: the device did not resume", s.Interrupts)
			}
		} else if err == nil || !strings.Contains(err.Error(), "--wait") || !strings.Contains(err.Error(), "device gone") {
			t.Errorf("without --wait: Run = %v", err)
		}
		e.Close()
		g.Close()
	}
}
