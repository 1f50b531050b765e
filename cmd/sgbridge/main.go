// Command sgbridge brings audio from a capture device on its own clock into
// the JACK / PipeWire graph. See `sgbridge help` and the README.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

// exitError carries the process exit code of an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad flags or arguments: exit status 2, like flag errors.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "sgbridge",
		Short: "Bridge a capture device on its own clock into JACK or PipeWire",
		Long: `sgbridge brings audio from a capture device that runs on its own clock (a
scatter-gather DMA grabber, a USB or HDMI grabber, a second sound card, a
simulator) into the JACK / PipeWire graph as capture ports.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: 2, err: err} })
	root.AddCommand(newRunCmd(), newDevicesCmd(), newStatusCmd(), newEmuCmd(), newResampleCmd(), newVersionCmd())
	return root
}

func main() {
	err := newRootCmd().Execute()
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "sgbridge: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(1)
}
