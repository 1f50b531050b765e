package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/sgbridge/sgbridge/resample"
	"github.com/sgbridge/sgbridge/resample/wavfile"
)

// longFile is how many input frames make a file long enough for a progress
// bar on a terminal (about 20 s at 48 kHz).
const longFile = 1 << 20

func newResampleCmd() *cobra.Command {
	var (
		rate     int
		ratio    float64
		quality  string
		progress bool
	)
	cmd := &cobra.Command{
		Use:   "resample IN.wav OUT.wav (--rate HZ | --ratio R)",
		Short: "Resample a WAV file with sgbridge's resampler",
		Long: `resample converts IN.wav (16/24/32-bit integer or float) to a 32-bit float
WAV file with the same resampler the bridge runs. --rate sets the output
rate (exact rational stepping); --ratio sets output/input directly.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("rate") == cmd.Flags().Changed("ratio") {
				return usageError("give exactly one of --rate or --ratio")
			}
			if cmd.Flags().Changed("rate") && rate <= 0 {
				return usageError("--rate %d: want a positive rate in Hz", rate)
			}
			if cmd.Flags().Changed("ratio") && !(ratio > 0) {
				return usageError("--ratio %g: want a positive ratio", ratio)
			}
			q, err := resample.ParseQuality(quality)
			if err != nil {
				return usageError("--quality: %v", err)
			}
			opts := wavfile.Options{Rate: rate, Ratio: ratio, Quality: q}
			stderr := cmd.ErrOrStderr()
			bar := &progressBar{w: stderr, force: progress, tty: isTerminal(stderr)}
			opts.Progress = bar.update
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			err = wavfile.Convert(ctx, args[0], args[1], opts)
			bar.finish()
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&rate, "rate", 0, "output sample rate in Hz")
	f.Float64Var(&ratio, "ratio", 0, "output rate / input rate")
	f.StringVar(&quality, "quality", "default", "resampler preset: fast, default (high) or best")
	f.BoolVar(&progress, "progress", false, "show a progress bar even when stderr is not a terminal or the file is short")
	return cmd
}

// progressBar draws one line on w, at most ten times a second.
type progressBar struct {
	w      io.Writer
	force  bool
	tty    bool
	last   time.Time
	drawn  bool
	shown  bool
	decide bool
	done   int64
}

func (p *progressBar) update(done, total int64) {
	if !p.decide {
		p.decide = true
		p.shown = p.force || (p.tty && (total < 0 || total >= longFile))
	}
	if !p.shown || done == p.done || (time.Since(p.last) < 100*time.Millisecond && done != total) {
		return
	}
	p.done = done
	p.last = time.Now()
	const width = 40
	if total > 0 {
		n := int(done * width / total)
		fmt.Fprintf(p.w, "\r[%s%s] %3d%%", strings.Repeat("#", n), strings.Repeat(".", width-n), done*100/total)
	} else {
		fmt.Fprintf(p.w, "\r%d frames", done)
	}
	p.drawn = true
}

func (p *progressBar) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
