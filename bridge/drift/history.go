package drift

// posMap remembers, for recent ring write positions, which device frame
// position the frame written there came from: pairs (w, x) meaning "ring
// frame w carries device position x" (x = resampler input consumed minus
// its delay). Between pairs the resampler ran at one ratio, so positions
// are linear; before the oldest pair they are extrapolated at the current
// ratio. The array is fixed: nothing allocates per update.
type posMap struct {
	w    [posMapLen]uint64
	x    [posMapLen]float64
	head int // index of the newest pair
	n    int
}

// posMapLen bounds how far back a read position can be mapped exactly:
// 256 updates are over a second of device periods, more than any ring
// holds.
const posMapLen = 256

func (m *posMap) reset() { m.n, m.head = 0, 0 }

// add records that ring frame w carries device position x. Pairs must come
// in non-decreasing w; a pair at the same w replaces the newest (a
// correction moved the source position of the next frame).
func (m *posMap) add(w uint64, x float64) {
	if m.n > 0 && m.w[m.head] == w {
		m.x[m.head] = x
		return
	}
	m.head = (m.head + 1) % posMapLen
	m.w[m.head], m.x[m.head] = w, x
	if m.n < posMapLen {
		m.n++
	}
}

// at returns the device position carried by ring frame r. ratio (graph
// frames per device frame) extrapolates outside the recorded span.
func (m *posMap) at(r uint64, ratio float64) float64 {
	if m.n == 0 {
		return 0
	}
	i := m.head
	if r >= m.w[i] {
		return m.x[i] + float64(r-m.w[i])/ratio
	}
	for k := 1; k < m.n; k++ {
		j := (i - 1 + posMapLen) % posMapLen
		if r >= m.w[j] {
			// Linear between j and i.
			f := float64(r-m.w[j]) / float64(m.w[i]-m.w[j])
			return m.x[j] + f*(m.x[i]-m.x[j])
		}
		i = j
	}
	return m.x[i] - float64(m.w[i]-r)/ratio
}
