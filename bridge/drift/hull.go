package drift

import "math"

// lowerEdge finds the edge of the lower convex hull of the points
// (x[i], y[i]), i in lo..hi-1, that spans x = m, and returns its ends a
// and b (indices, a before b). x must increase with i; a point whose y is
// +Inf is left out. idx is scratch for hi-lo indices. ok is false when no
// edge reaches m.
//
// Both the device clock (its stamps' hull against the filter's curve)
// and the graph's edge line (its wake-ups' block minima) take their rate
// from this edge: the supporting line that lies least above the points
// where they are centred.
func lowerEdge(x, y []float64, lo, hi int, m float64, idx []int32) (a, b int, ok bool) {
	// Andrew's monotone chain, lower half.
	h := 0
	for i := lo; i < hi; i++ {
		if math.IsInf(y[i], 1) {
			continue
		}
		for h >= 2 {
			p, q := idx[h-2], idx[h-1]
			if (x[q]-x[p])*(y[i]-y[p])-(y[q]-y[p])*(x[i]-x[p]) > 0 {
				break
			}
			h--
		}
		idx[h] = int32(i)
		h++
	}
	for k := 0; k+1 < h; k++ {
		p, q := int(idx[k]), int(idx[k+1])
		if x[q] < m {
			continue
		}
		return p, q, x[q] > x[p]
	}
	return 0, 0, false
}
