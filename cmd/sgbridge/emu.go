package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sgbridge/sgbridge/device/sim"
	"github.com/sgbridge/sgbridge/device/uio/emu"
)

type emuOptions struct {
	uio         uioOptions
	signal      string
	freq        float64
	ppm         float64
	jitter      time.Duration
	loseIRQ     float64
	stall       string
	vanishAfter time.Duration
	returnAfter time.Duration
	index       int
	seed        uint64
	rtPrio      int
}

func newEmuCmd() *cobra.Command {
	o := &emuOptions{}
	cmd := &cobra.Command{
		Use:   "emu",
		Short: "Emulate the seed's SG grabber behind the UIO interface",
		Long: `emu serves an emulated SG DMA grabber the way its UIO driver would: a sysfs
entry ROOT/sys/class/uio/uioN (named after the profile) and, at ROOT/dev/uioN,
a socket that passes the buffer memory and the interrupt counts. Its DMA runs
on its own clock and writes the chosen signal; faults are injected on request.
It runs until SIGINT or SIGTERM and removes what it created.`,
		Example: `  sgbridge emu                                   # default profile, temporary root
  sgbridge emu --root /tmp/g --signal counter --lose-irq 0.01
  sgbridge emu --root /tmp/g --vanish-after 10s --return-after 3s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	f.StringVar(&o.uio.profile, "profile", "", "device profile (TOML); default: the built-in sgrab.toml")
	f.StringVar(&o.uio.root, "root", "", "directory to create sys/ and dev/ in (default: a new temporary directory)")
	f.StringVar(&o.signal, "signal", "sine", "sine, counter or silence")
	f.Float64Var(&o.freq, "freq", sim.DefaultFreq, "sine base frequency in Hz (channel c gets F·(1+c/4))")
	f.Float64Var(&o.ppm, "ppm", 0, "device clock offset in ppm")
	f.DurationVar(&o.jitter, "jitter", 0, "interrupt delivery jitter, e.g. 200us")
	f.Float64Var(&o.loseIRQ, "lose-irq", 0, "probability that an interrupt is counted but not delivered")
	f.StringVar(&o.stall, "stall", "", "hold interrupts MS milliseconds once every EVERY, e.g. 30@5s")
	f.DurationVar(&o.vanishAfter, "vanish-after", 0, "remove the device after this long")
	f.DurationVar(&o.returnAfter, "return-after", 0, "bring a vanished device back after this long")
	f.IntVar(&o.index, "index", 0, "N of uioN")
	f.IntVar(&o.rtPrio, "rt-priority", emu.DefaultRTPriority, "SCHED_FIFO priority of the emulated DMA clock (0: normal priority; clamped to RLIMIT_RTPRIO)")
	f.Uint64Var(&o.seed, "seed", 0, "seed for jitter and lost interrupts (0: from the clock)")
	return cmd
}

// parseStall reads MS@EVERY: "30@5s" holds interrupts 30 ms every 5 s.
func parseStall(s string) (stall, every time.Duration, err error) {
	if s == "" {
		return 0, 0, nil
	}
	ms, ev, ok := strings.Cut(s, "@")
	n, err1 := strconv.ParseFloat(ms, 64)
	d, err2 := time.ParseDuration(ev)
	if !ok || err1 != nil || err2 != nil || n <= 0 || d <= 0 {
		return 0, 0, fmt.Errorf("--stall %q: want MS@EVERY, e.g. 30@5s", s)
	}
	return time.Duration(n * float64(time.Millisecond)), d, nil
}

func (o *emuOptions) run(cmd *cobra.Command) error {
	sig, err := sim.ParseSignal(o.signal)
	if err != nil {
		return usageError("--signal: %v", err)
	}
	stall, every, err := parseStall(o.stall)
	if err != nil {
		return usageError("%v", err)
	}
	p, err := o.uio.loadProfile()
	if err != nil {
		return usageError("--profile: %v", err)
	}
	root, temp := o.uio.root, false
	if root == "" {
		if root, err = os.MkdirTemp("", "sgbridge-emu-"); err != nil {
			return err
		}
		temp = true
		defer os.RemoveAll(root)
	}
	seed := o.seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	e, err := emu.New(emu.Config{
		Profile: p, Root: root, Index: o.index, Signal: sig, Freq: o.freq,
		PPM: o.ppm, Jitter: o.jitter, LoseIRQ: o.loseIRQ, Stall: stall, StallEvery: every,
		VanishAfter: o.vanishAfter, ReturnAfter: o.returnAfter, Seed: seed, RTPriority: o.rtPrio, Log: log,
	})
	if err != nil {
		return usageError("%v", err)
	}
	log.Info("emulating", "device", e.Dev(), "sysfs", e.Sys(), "name", p.Name, "format", p.Format.String(), "signal", sig.String())
	if temp || o.uio.root != "" {
		prof := ""
		if o.uio.profile != "" {
			prof = " --profile " + o.uio.profile
		}
		fmt.Fprintf(cmd.OutOrStdout(), "emulated %s at %s\nrun:  sgbridge run --device uio:%s --uio-root %s%s\n", p.Name, e.Dev(), p.Name, root, prof)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = e.Run(ctx)
	s := e.Stats()
	log.Info("emu stopped", "interrupts", s.Interrupts, "lost_injected", s.Lost, "held", s.Held, "coalesced", s.Coalesced,
		"skipped", s.Skipped, "clients", s.Clients, "vanished", s.Vanished, "returned", s.Returned,
		"late_ticks", s.LateTicks, "worst_late_us", s.WorstLate/1000)
	return err
}
