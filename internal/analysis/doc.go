// Package analysis measures recorded test signals, so that sgbridge's tests
// judge audio by numbers rather than by ear.
//
// It owns the measurement tools the test suite stands on: a four-parameter
// least-squares sine fit (IEEE 1057) and THD+N from it, per-window fits and
// their frequency spread, a glitch search that finds a single dropped or
// repeated sample, a click, a step or a dropout, and the bit-exact check of
// sgbridge's sample-counter signal. Everything works in float64.
package analysis
