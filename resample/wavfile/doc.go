// Package wavfile owns file conversion with package resample: it reads a
// WAV file (16/24/32-bit integer or float), resamples every channel with
// the same engine the bridge runs, and writes a float32 WAV file. The
// command `sgbridge resample` is a thin shell around Convert.
package wavfile
