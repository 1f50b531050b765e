package rt

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

const (
	rtkitName  = "org.freedesktop.RealtimeKit1"
	rtkitPath  = "/org/freedesktop/RealtimeKit1"
	rtkitIface = "org.freedesktop.RealtimeKit1"
)

// makeRealtimeRTKit asks RealtimeKit to make thread tid SCHED_FIFO at prio
// (clamped to its MaxRealtimePriority). RealtimeKit insists that the
// process caps its CPU time at real-time priority with RLIMIT_RTTIME no
// higher than its RTTimeUSecMax, so that is set first.
func makeRealtimeRTKit(tid, prio int) (int, error) {
	err := withRTKit(func(ctx context.Context, obj dbus.BusObject) error {
		var err error
		prio, err = realtimeRTKit(ctx, obj, tid, prio)
		return err
	})
	return prio, err
}

// withRTKit calls f with RealtimeKit's object on a fresh system bus
// connection, closed when f returns, and a deadline for f's calls.
func withRTKit(f func(context.Context, dbus.BusObject) error) error {
	if _, err := os.Stat("/run/dbus/system_bus_socket"); err != nil && os.Getenv("DBUS_SYSTEM_BUS_ADDRESS") == "" {
		return errNoBus
	}
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return fmt.Errorf("connect system bus: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return f(ctx, conn.Object(rtkitName, rtkitPath))
}

func realtimeRTKit(ctx context.Context, obj dbus.BusObject, tid, prio int) (int, error) {
	if v, err := obj.GetProperty(rtkitIface + ".MaxRealtimePriority"); err == nil {
		if max, ok := v.Value().(int32); ok && int(max) < prio {
			prio = int(max)
		}
	}
	if v, err := obj.GetProperty(rtkitIface + ".RTTimeUSecMax"); err == nil {
		if max, ok := v.Value().(int64); ok && max > 0 {
			l := unix.Rlimit{Cur: uint64(max), Max: uint64(max)}
			if err := unix.Setrlimit(unix.RLIMIT_RTTIME, &l); err != nil {
				return 0, fmt.Errorf("set RLIMIT_RTTIME to %d µs: %w", max, err)
			}
		}
	}
	if prio < 1 {
		return 0, fmt.Errorf("RealtimeKit allows no real-time priority")
	}
	call := obj.CallWithContext(ctx, rtkitIface+".MakeThreadRealtimeWithPID", 0,
		uint64(os.Getpid()), uint64(tid), uint32(prio))
	if call.Err != nil {
		return 0, fmt.Errorf("MakeThreadRealtimeWithPID: %w", call.Err)
	}
	return prio, nil
}

// makeHighPriorityRTKit asks RealtimeKit to give thread tid nice level
// nice (raised to its MinNiceLevel), and returns the level granted.
func makeHighPriorityRTKit(tid, nice int) (int, error) {
	err := withRTKit(func(ctx context.Context, obj dbus.BusObject) error {
		if v, err := obj.GetProperty(rtkitIface + ".MinNiceLevel"); err == nil {
			if floor, ok := v.Value().(int32); ok && int(floor) > nice {
				nice = int(floor)
			}
		}
		if nice >= 0 {
			return fmt.Errorf("RealtimeKit allows no negative nice level")
		}
		call := obj.CallWithContext(ctx, rtkitIface+".MakeThreadHighPriorityWithPID", 0,
			uint64(os.Getpid()), uint64(tid), int32(nice))
		if call.Err != nil {
			return fmt.Errorf("MakeThreadHighPriorityWithPID: %w", call.Err)
		}
		return nil
	})
	return nice, err
}
