package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sgbridge/sgbridge/device"
)

func newDevicesCmd() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List every backend and the capture devices it sees",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg := registry(o)
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "DEVICE\tDESCRIPTION")
			for _, b := range reg.Backends() {
				if b.List == nil {
					fmt.Fprintf(w, "%s\t%s\n", b.Name, b.Summary)
					continue
				}
				infos, err := b.List()
				if err != nil {
					fmt.Fprintf(w, "%s:*\t%s: cannot list: %v\n", b.Name, b.Summary, err)
					continue
				}
				if len(infos) == 0 {
					fmt.Fprintf(w, "%s:*\t%s: none found\n", b.Name, b.Summary)
				}
				for _, in := range infos {
					fmt.Fprintf(w, "%s\t%s\n", in.Spec, in.Description)
				}
			}
			return w.Flush()
		},
	}
	o.uio.addFlags(cmd.Flags())
	return cmd
}

// registry is every backend this build has; opts carries the flags the
// backends need to open or list devices.
func registry(opts *runOptions) *device.Registry {
	var reg device.Registry
	reg.Register(device.Backend{
		Name:    "sim",
		Summary: "simulated SG grabber (--sim-ppm, --sim-signal, --sim-freq, --sim-jitter)",
		Open: func(name string) (device.Grabber, error) {
			if name != "" {
				return nil, fmt.Errorf("the simulator takes no name, got %q", name)
			}
			return opts.openSim()
		},
	})
	reg.Register(opts.uio.backend(opts))
	for _, b := range portaudioBackends(opts) {
		reg.Register(b)
	}
	return &reg
}
