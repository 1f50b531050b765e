package portaudio

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/device"
)

// cpuTime is the CPU time (user + system) of the process so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The device vanishes while Wait waits for a period, in both ways a card
// goes: with an error from the pointer, and with a pointer that just
// stops (both with POLLERR on the poll descriptor, as the kernel does).
// Wait must return ErrGone within a bound, the process must stay nearly
// idle meanwhile (PortAudio's own blocking read burns a whole core here,
// see TestPortAudioReadSpinsWhenGone), and Reopen must bring the stream
// back once the device returns.
func TestVanishWhileWaiting(t *testing.T) {
	needPCMs(t)
	for _, tc := range []struct {
		pcm   string
		bound time.Duration // from the vanishing to Wait's error
	}{
		{"sgplug", 50 * time.Millisecond},                  // the next look sees -ENODEV
		{"sgfreeze", DefaultTimeout + 50*time.Millisecond}, // only the timeout tells
	} {
		t.Run(tc.pcm, func(t *testing.T) {
			d := started(t, tc.pcm, 256, 20)
			// Vanish 2 ms into the wait for the next period.
			vanished := make(chan time.Time, 1)
			cpu0 := cpuTime()
			go func() {
				time.Sleep(2 * time.Millisecond)
				now := time.Now()
				if err := pcms.Vanish(tc.pcm); err != nil {
					panic(err)
				}
				vanished <- now
			}()
			var werr error
			for werr == nil {
				_, werr = d.Wait()
			}
			end := time.Now()
			cpu := cpuTime() - cpu0
			defer pcms.Return(tc.pcm)
			wall := end.Sub(<-vanished)
			t.Logf("Wait: %v after %v; process CPU %v (%.1f%% of a core)", werr, wall.Round(time.Millisecond), cpu, 100*cpu.Seconds()/wall.Seconds())
			if !errors.Is(werr, device.ErrGone) {
				t.Fatalf("Wait after vanishing: %v, want ErrGone", werr)
			}
			if wall > tc.bound {
				t.Errorf("Wait took %v to see the device gone, want <= %v", wall, tc.bound)
			}
			// A spin shows as a core's worth; the waiter's looks cost a few %.
			if cpu > wall/4+20*time.Millisecond {
				t.Errorf("process used %v of CPU in the %v the device was gone", cpu, wall)
			}

			// Gone for a while: Reopen waits without burning CPU either.
			rdone := make(chan error, 1)
			cpu0 = cpuTime()
			go func() { rdone <- d.Reopen(func() bool { return false }) }()
			time.Sleep(3 * ReopenPoll)
			select {
			case err := <-rdone:
				t.Fatalf("Reopen returned while the device is gone: %v", err)
			default:
			}
			if cpu := cpuTime() - cpu0; cpu > 3*ReopenPoll/4 {
				t.Errorf("process used %v of CPU in %v of Reopen waiting", cpu, 3*ReopenPoll)
			}
			pcms.Return(tc.pcm)
			select {
			case err := <-rdone:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Reopen did not return after the device came back")
			}
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			for want := uint64(1); want <= 5; want++ {
				c, err := d.Wait()
				if err != nil || c.Count != want {
					t.Fatalf("Wait %d after Reopen: %v, %v", want, c, err)
				}
			}
		})
	}
}

// TestPortAudioReadSpinsWhenGone is the hazard the backend steers clear
// of, kept as a test so that a PortAudio that no longer has it is
// noticed: Pa_ReadStream of PortAudio 19.6 (Debian 12) blocked in its
// poll when the device vanishes never returns and burns a core. With the
// pointer failing, the error path of PaAlsaStream_WaitForFrames retries
// the failing xrun restart by a goto back into itself; with the pointer
// frozen, poll returns POLLERR at once, PaAlsaStream_HandleXrun finds no
// XRUN state to recover and the read loop polls again. The read runs in
// a child process, which reports its CPU time and exits.
func TestPortAudioReadSpinsWhenGone(t *testing.T) {
	needPCMs(t)
	if pcm := os.Getenv("SGBRIDGE_SPIN_CHILD"); pcm != "" {
		spinChild(pcm)
		return
	}
	for _, pcm := range []string{"sgplug", "sgfreeze"} {
		t.Run(pcm, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestPortAudioReadSpinsWhenGone$")
			cmd.Env = append(os.Environ(), "SGBRIDGE_SPIN_CHILD="+pcm)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			_, rest, ok := strings.Cut(string(out), "SPIN ")
			if !ok {
				t.Fatalf("child said nothing:\n%s", out)
			}
			f := strings.Fields(rest)
			returned := f[0] == "returned"
			ms, _ := strconv.Atoi(f[1])
			t.Logf("PortAudio's blocking read, device gone: returned=%v, %d ms CPU in 300 ms", returned, ms)
			// The pointer-error loop prints PortAudio's error on every
			// turn, so it is partly blocked on the pipe: a fifth of a
			// core is far above a waiter's few per cent.
			if returned || ms < 60 {
				t.Errorf("Pa_ReadStream no longer spins when the device vanishes (returned=%v, %d ms CPU in 300 ms): "+
					"the backend could wait in it again", returned, ms)
			}
		})
	}
	pcms.Return("sgplug")
	pcms.Return("sgfreeze")
}

// spinChild is TestPortAudioReadSpinsWhenGone's child: a blocking
// Pa_ReadStream in which the device vanishes. It prints "SPIN returned
// MS" or "SPIN spinning MS" and exits without cleaning up, since the
// read never returns.
func spinChild(pcm string) {
	d, err := Open(Config{Backend: "alsa", Name: pcm, Channels: 2, Rate: 48000, Period: 256})
	if err != nil {
		panic(err)
	}
	if err := d.Start(); err != nil {
		panic(err)
	}
	buf := make([]byte, 256*2*4)
	for range 5 {
		if err := d.st.read(buf, 256); err != nil {
			panic(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		for {
			if err := d.st.read(buf, 256); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(2 * time.Millisecond)
	pcms.Vanish(pcm)
	cpu0 := cpuTime()
	state := "spinning"
	select {
	case <-done:
		state = "returned"
	case <-time.After(300 * time.Millisecond):
	}
	fmt.Printf("SPIN %s %d\n", state, (cpuTime() - cpu0).Milliseconds())
	os.Stdout.Sync()
	os.RemoveAll(pcms.Dir) // TestMain's cleanup does not run
	unix.Exit(0)
}
