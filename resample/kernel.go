package resample

// blendScalar sets dst = a + w·(b - a), the coefficients between two
// neighbouring phases.
func blendScalar(dst, a, b []float32, w float32) {
	a = a[:len(dst)]
	b = b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + w*(b[i]-a[i])
	}
}

// dotScalar returns Σ x[i]·c[i] for len(c) a multiple of 8. Eight
// independent float32 lanes keep the partial sums small (as in the AVX2
// kernel); they are added in float64 so the final sums lose nothing.
func dotScalar(x, c []float32) float32 {
	x = x[:len(c)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	for i := 0; i+8 <= len(c); i += 8 {
		xx := x[i : i+8 : i+8]
		cc := c[i : i+8 : i+8]
		s0 += xx[0] * cc[0]
		s1 += xx[1] * cc[1]
		s2 += xx[2] * cc[2]
		s3 += xx[3] * cc[3]
		s4 += xx[4] * cc[4]
		s5 += xx[5] * cc[5]
		s6 += xx[6] * cc[6]
		s7 += xx[7] * cc[7]
	}
	return float32((float64(s0) + float64(s4)) + (float64(s1) + float64(s5)) +
		(float64(s2) + float64(s6)) + (float64(s3) + float64(s7)))
}
