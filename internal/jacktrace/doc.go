// Package jacktrace reads recorded JACK server wake-ups for the tests that
// replay them: the drift controller's simulation (bridge/drift) and the
// engine with the real resampler (bridge). The traces and how they were
// recorded are described in bridge/drift/testdata/README.md.
package jacktrace
