// Package resample owns sgbridge's sample-rate converter: a variable-ratio
// polyphase resampler on planar float32 audio, its quality presets, the
// filter design behind them and the SIMD kernels that run it.
//
// # Filter
//
// The prototype low-pass is a Kaiser-windowed sinc of N taps, tabulated at P
// phases per input sample (plus one guard phase). For an output frame at input
// time t = k + φ (k integer, 0 <= φ < 1) tap j sits at input sample
// k - N/2 + 1 + j and is weighted by h(φ + N/2 - 1 - j), where
//
//	h(u) = 2c · sinc(2c·u) · I0(β·sqrt(1 - (u/T)²)) / I0(β),  |u| <= T = N/2
//	sinc(x) = sin(πx)/(πx),  c = cutoff in cycles per input sample,
//	β = 0.1102·(A - 8.7) for a stop-band attenuation of A dB (Kaiser 1974).
//
// Between tabulated phases the coefficients are blended linearly:
// x = φ·P, p = ⌊x⌋, w = x - p, coef = (1-w)·row[p] + w·row[p+1]. The error
// of that blend on a tone of ω rad/sample is an amplitude ripple of at most
// (ω/P)²/8; at P = 2000 and 20 kHz / 48 kHz it stays near -140 dB.
// The table is normalised so that the average DC gain over all phases is
// exactly one.
//
// At or above a ratio (output rate / input rate) of one the transition band
// is centred on the input Nyquist frequency, so the band from fs-20 kHz up is
// in the stop band (images) and the pass band reaches 20 kHz at 48 kHz. Below
// one the filter is stretched by the ratio and lengthened 1.5x and its stop
// band starts at 0.52 of the output rate, so nothing above that aliases.
//
// # Phase stepping
//
// The fractional position is an integer numerator over a denominator D: for
// fixed rational conversions (NewRates) D is the reduced output rate and the
// step is exact forever; in variable mode (after SetRatio) D = 2^52. The table
// phase is computed from the numerator once per output frame, so phase
// arithmetic adds no error beyond 2^-52 samples per step.
//
// # Real time
//
// All memory is allocated by New/NewRates. Process, SetRatio, OutputFor,
// Delay and Reset allocate nothing and take no locks; the engine can call
// them from its real-time loop.
package resample
