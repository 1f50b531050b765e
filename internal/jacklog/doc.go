// Package jacklog keeps libjack's messages off stderr. libjack prints
// every failed connection attempt and a few lines of its own shared-memory
// bookkeeping to stderr, through handlers that are global to the process.
// sgbridge reports failures itself, in its own words, so it installs one
// pair of handlers for every part of the process that loads libjack (its
// JACK sink and, through PortAudio's JACK host API, its PortAudio device):
// informational lines are dropped and the last error line is kept for
// the messages that explain a failure.
package jacklog
