//go:build !amd64

package resample

const haveAVX2 = false

func blendAVX2(dst, a, b *float32, n int, w float32) { panic("resample: no AVX2 kernel") }

func dotAVX2(x, c *float32, n int) float32 { panic("resample: no AVX2 kernel") }

func interpAVX2(x, a, b *float32, n int, w float32) float32 { panic("resample: no AVX2 kernel") }
