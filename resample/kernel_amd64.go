package resample

import "golang.org/x/sys/cpu"

// haveAVX2 is a constant of the machine, read once: AVX2 and FMA together.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// blendAVX2 is blendScalar over n floats, n a multiple of 8.
//
//go:noescape
func blendAVX2(dst, a, b *float32, n int, w float32)

// dotAVX2 is dotScalar over n floats, n a multiple of 8.
//
//go:noescape
func dotAVX2(x, c *float32, n int) float32

// interpAVX2 returns the output of one channel between phases a and b at
// blend weight w, over n taps (a multiple of 8): Σx·a + w·(Σx·b - Σx·a).
//
//go:noescape
func interpAVX2(x, a, b *float32, n int, w float32) float32
