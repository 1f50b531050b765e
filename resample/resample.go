package resample

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
)

// MaxRatioDeviation is how far SetRatio may move the ratio away from the
// setup ratio, as a fraction (±10 %).
const MaxRatioDeviation = 0.10

// variableShift is log2 of the phase denominator in variable-ratio mode.
const variableShift = 52

// chunk is how many input frames the history buffer holds beyond one
// filter length. Process copies input into it in pieces of up to this size.
const chunk = 4096

// Kernel names an inner-loop implementation.
type Kernel int

const (
	// KernelAuto picks the fastest kernel the CPU supports.
	KernelAuto Kernel = iota
	// KernelScalar is the portable Go kernel.
	KernelScalar
	// KernelAVX2 is the AVX2/FMA assembly kernel (amd64 only).
	KernelAVX2
)

func (k Kernel) String() string {
	switch k {
	case KernelAuto:
		return "auto"
	case KernelScalar:
		return "scalar"
	case KernelAVX2:
		return "avx2"
	}
	return fmt.Sprintf("Kernel(%d)", int(k))
}

// KernelEnv is the environment variable New reads to force a kernel
// ("scalar" or "avx2"); tests and benchmarks use it to cover both paths.
const KernelEnv = "SGBRIDGE_RESAMPLE_KERNEL"

// Resampler converts planar float32 audio between two sample rates at a
// ratio that may change before every block. It is not safe for concurrent
// use.
type Resampler struct {
	channels int
	quality  Quality
	f        filter
	taps     int
	simd     bool

	setup float64 // setup ratio, output rate / input rate
	ratio float64 // current ratio

	// Exact rational stepping of the setup ratio: step = inRate/outRate
	// = ratDen.. expressed as stepInt + ratNum/ratDen. Zero ratDen means
	// the setup ratio is not rational with a small denominator.
	ratInt, ratNum, ratDen uint64

	// Current position: the window of the next output starts at buf[pos]
	// (pos may exceed fill: those input frames are skipped), and the
	// output sits num/den of a sample after buf[pos+taps/2-1].
	pos, fill     int
	num, den      uint64
	stepInt       uint64
	stepNum       uint64
	phaseScale    float64 // phases/den
	buf           [][]float32
	scratch       []float32 // blended coefficients of the current output
	consumedTotal int64
	producedTotal int64
}

// New returns a resampler for the given number of channels at ratio 1 (the
// drift-compensation case); call SetRatio to move it.
func New(channels int, quality Quality) (*Resampler, error) {
	return newResampler(channels, quality, 1, 1)
}

// NewRates returns a resampler from inRate to outRate Hz. The phase steps
// exactly by inRate/outRate (reduced) until SetRatio is called.
func NewRates(channels, inRate, outRate int, quality Quality) (*Resampler, error) {
	if inRate <= 0 || outRate <= 0 {
		return nil, fmt.Errorf("resample: rates must be positive, got %d -> %d Hz", inRate, outRate)
	}
	if outRate*16 < inRate || inRate*16 < outRate {
		return nil, fmt.Errorf("resample: %d -> %d Hz is outside the supported ratio range 1/16..16", inRate, outRate)
	}
	return newResampler(channels, quality, inRate, outRate)
}

func newResampler(channels int, quality Quality, inRate, outRate int) (*Resampler, error) {
	if channels <= 0 || channels > 256 {
		return nil, fmt.Errorf("resample: channel count %d out of range 1..256", channels)
	}
	if !quality.valid() {
		return nil, fmt.Errorf("resample: unknown quality %v", quality)
	}
	g := gcd(inRate, outRate)
	in, out := uint64(inRate/g), uint64(outRate/g)
	ratio := float64(outRate) / float64(inRate)
	r := &Resampler{
		channels: channels,
		quality:  quality,
		f:        design(presets[quality], ratio),
		setup:    ratio,
		ratInt:   in / out,
		ratNum:   in % out,
		ratDen:   out,
	}
	r.taps = r.f.taps
	r.buf = make([][]float32, channels)
	for c := range r.buf {
		r.buf[c] = make([]float32, r.taps+chunk)
	}
	r.scratch = make([]float32, r.taps)
	if err := r.SetKernel(KernelAuto); err != nil {
		return nil, err
	}
	switch os.Getenv(KernelEnv) {
	case "scalar":
		r.SetKernel(KernelScalar)
	case "avx2":
		if err := r.SetKernel(KernelAVX2); err != nil {
			return nil, fmt.Errorf("%s=avx2: %w", KernelEnv, err)
		}
	}
	r.Reset()
	return r, nil
}

// SetKernel selects the inner-loop implementation. KernelAVX2 fails on a CPU
// without AVX2 and FMA.
func (r *Resampler) SetKernel(k Kernel) error {
	switch k {
	case KernelAuto:
		r.simd = haveAVX2
	case KernelScalar:
		r.simd = false
	case KernelAVX2:
		if !haveAVX2 {
			return errors.New("resample: AVX2/FMA kernel not supported on this CPU")
		}
		r.simd = true
	default:
		return fmt.Errorf("resample: unknown kernel %v", k)
	}
	return nil
}

// Kernel reports the kernel in use (never KernelAuto).
func (r *Resampler) Kernel() Kernel {
	if r.simd {
		return KernelAVX2
	}
	return KernelScalar
}

// Channels returns the channel count.
func (r *Resampler) Channels() int { return r.channels }

// Taps returns the filter length in input frames.
func (r *Resampler) Taps() int { return r.taps }

// Phases returns the number of tabulated phases per input sample.
func (r *Resampler) Phases() int { return r.f.phases }

// Ratio returns the current ratio, output rate / input rate.
func (r *Resampler) Ratio() float64 { return r.ratio }

// Reset clears the history (the resampler starts on silence), returns to the
// setup ratio with exact rational stepping and zeroes the counters.
func (r *Resampler) Reset() {
	for _, b := range r.buf {
		clear(b)
	}
	// Output 0 sits exactly on input frame 0; the taps before it see the
	// taps/2-1 frames of silence preloaded here.
	r.fill = r.taps/2 - 1
	r.pos = 0
	r.num = 0
	r.den = r.ratDen
	r.stepInt, r.stepNum = r.ratInt, r.ratNum
	r.ratio = r.setup
	r.phaseScale = float64(r.f.phases) / float64(r.den)
	r.consumedTotal, r.producedTotal = 0, 0
}

// SetRatio sets the ratio (output rate / input rate) used from the next
// output frame on. The position in the input is continuous across the
// change, so a new ratio every block makes no click. The ratio must stay
// within MaxRatioDeviation of the setup ratio.
func (r *Resampler) SetRatio(ratio float64) error {
	if !(ratio >= r.setup*(1-MaxRatioDeviation) && ratio <= r.setup*(1+MaxRatioDeviation)) {
		return fmt.Errorf("resample: ratio %g outside %g ±%g%%", ratio, r.setup, MaxRatioDeviation*100)
	}
	if ratio == r.ratio {
		return nil
	}
	const one = uint64(1) << variableShift
	if r.den != one {
		// Leave exact rational stepping: rescale the numerator.
		hi, lo := bits.Mul64(r.num, one)
		r.num, _ = bits.Div64(hi, lo, r.den)
		r.den = one
		r.phaseScale = float64(r.f.phases) / float64(one)
	}
	step := uint64(math.Round(float64(one) / ratio))
	r.stepInt, r.stepNum = step>>variableShift, step&(one-1)
	r.ratio = ratio
	return nil
}

// Delay returns the group delay in input frames at this moment: the
// number of input frames consumed so far minus the input time of the next
// output frame. The drift controller adds it to the queue fill to know
// where the output stream stands relative to the input.
func (r *Resampler) Delay() float64 {
	return float64(r.fill-r.pos-(r.taps/2-1)) - float64(r.num)/float64(r.den)
}

// Consumed and Produced return the frame counters since the last Reset.
func (r *Resampler) Consumed() int64 { return r.consumedTotal }

// Produced returns the output frames produced since the last Reset.
func (r *Resampler) Produced() int64 { return r.producedTotal }

// OutputFor returns exactly how many output frames Process produces from
// inFrames more input frames at the current ratio, given an output buffer
// at least that long. With such a buffer Process consumes all the input.
func (r *Resampler) OutputFor(inFrames int) int {
	// Output n needs pos + ⌊(num + n·S)/den⌋ + taps <= fill + inFrames,
	// S = stepInt·den + stepNum.
	a := int64(r.fill) + int64(inFrames) - int64(r.taps) - int64(r.pos)
	if a < 0 {
		return 0
	}
	s := r.stepInt*r.den + r.stepNum
	hi, lo := bits.Mul64(uint64(a)+1, r.den)
	lo, borrow := bits.Sub64(lo, r.num+1, 0)
	hi -= borrow
	q, _ := bits.Div64(hi, lo, s)
	return int(q) + 1
}

// MaxOutput returns an upper bound of OutputFor(inFrames) over every ratio
// SetRatio accepts, for sizing output buffers once.
func (r *Resampler) MaxOutput(inFrames int) int {
	return int(math.Ceil(float64(inFrames+r.taps)*r.setup*(1+MaxRatioDeviation))) + 2
}

// Process resamples in into out (planar, one slice per channel) and returns
// how many input frames it consumed and output frames it produced. Input it
// consumes but cannot turn into output yet stays in the resampler. If every
// out slice is at least OutputFor(len(in[c])) long, all input is consumed.
// Channels with shorter slices bound all channels. Process panics if in or
// out do not have one slice per channel.
func (r *Resampler) Process(in, out [][]float32) (consumed, produced int) {
	if len(in) != r.channels || len(out) != r.channels {
		panic(fmt.Sprintf("resample: Process with %d in / %d out slices for %d channels", len(in), len(out), r.channels))
	}
	nin, nout := len(in[0]), len(out[0])
	for c := 1; c < r.channels; c++ {
		nin = min(nin, len(in[c]))
		nout = min(nout, len(out[c]))
	}
	for {
		produced = r.run(out, produced, nout)
		if consumed == nin {
			break
		}
		// Refill: move the live part of the history to the front and
		// append input.
		if r.pos >= r.fill {
			r.pos -= r.fill
			r.fill = 0
			skip := min(r.pos, nin-consumed)
			r.pos -= skip
			consumed += skip
		} else if r.pos > 0 {
			for _, b := range r.buf {
				copy(b, b[r.pos:r.fill])
			}
			r.fill -= r.pos
			r.pos = 0
		}
		k := min(len(r.buf[0])-r.fill, nin-consumed)
		if k == 0 { // history full: out is full too
			break
		}
		for c, b := range r.buf {
			copy(b[r.fill:r.fill+k], in[c][consumed:consumed+k])
		}
		r.fill += k
		consumed += k
	}
	r.consumedTotal += int64(consumed)
	r.producedTotal += int64(produced)
	return consumed, produced
}

// run produces output frames from the buffered history into out[c][o:nout]
// while the filter window fits, and returns the new output index.
func (r *Resampler) run(out [][]float32, o, nout int) int {
	n := r.taps
	phases := r.f.phases
	coef := r.f.coef
	scratch := r.scratch[:n]
	pos, num := r.pos, r.num
	for o < nout && pos+n <= r.fill {
		x := float64(num) * r.phaseScale
		p := int(x)
		w := float32(x - float64(p))
		if p >= phases { // rounding at the top of the last phase
			p, w = phases-1, 1
		}
		a := coef[p*n : p*n+n]
		b := coef[p*n+n : p*n+2*n]
		if r.simd && r.channels == 1 {
			// One channel: two dot products and a float64 blend cost
			// the same as blending the coefficients and save a pass.
			out[0][o] = interpAVX2(&r.buf[0][pos], &a[0], &b[0], n, w)
		} else if r.simd {
			blendAVX2(&scratch[0], &a[0], &b[0], n, w)
			for c, buf := range r.buf {
				out[c][o] = dotAVX2(&buf[pos], &scratch[0], n)
			}
		} else {
			blendScalar(scratch, a, b, w)
			for c, buf := range r.buf {
				out[c][o] = dotScalar(buf[pos:pos+n], scratch)
			}
		}
		num += r.stepNum
		if num >= r.den {
			num -= r.den
			pos++
		}
		pos += int(r.stepInt)
		o++
	}
	r.pos, r.num = pos, num
	return o
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
