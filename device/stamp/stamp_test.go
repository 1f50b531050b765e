package stamp

import (
	"testing"
	"time"
)

// Bracket stamps a period's end from the looks around it; the cases are
// the device pointers sgbridge meets.
func TestBracket(t *testing.T) {
	const rate = 48000.0
	const us = int64(1000)
	for _, tc := range []struct {
		name      string
		t0        int64
		n0        int
		t1        int64
		n1, need  int
		predicted int64
		want      int64
		tolerance int64
	}{
		// No look before (a backlog): the prediction, but no later
		// than the frames past the period allow.
		{"backlog, prediction in time", 0, 0, 1000 * us, 256, 256, 900 * us, 900 * us, 0},
		{"backlog, prediction too late", 0, 0, 1000 * us, 256, 256, 1200 * us, 1000 * us, 0},
		{"backlog, 48 frames past", 0, 0, 2000 * us, 304, 256, 1500 * us, 1000 * us, 0},
		// A pointer that moves a period at a time: the middle.
		{"period pointer, 2 µs bracket", 1000 * us, 0, 1002 * us, 256, 256, 0, 1001 * us, 0},
		// Looks far apart: the prediction, kept inside the bracket.
		{"period pointer, wide bracket", 1000 * us, 0, 3000 * us, 256, 256, 2400 * us, 2400 * us, 0},
		{"wide bracket, prediction too early", 1000 * us, 0, 3000 * us, 256, 256, 500 * us, 1000 * us, 0},
		{"wide bracket, prediction too late", 1000 * us, 0, 3000 * us, 256, 256, 3500 * us, 3000 * us, 0},
		// A pointer that moves frame by frame: where the frame count
		// crossed the period, by the line through both looks.
		{"smooth pointer", 1000 * us, 250, 1250 * us, 262, 256, 0, 1125 * us, 1},
		{"smooth pointer, crossed at the look", 1000 * us, 253, 1062500, 256, 256, 0, 1062500, 1},
		// A pointer that moves in 1 ms blocks (USB): a jump.
		{"block pointer", 1000 * us, 208, 1020 * us, 256, 256, 0, 1010 * us, 0},
		{"looks out of order", 1000 * us, 0, 1000 * us, 256, 256, 2000 * us, 1000 * us, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := Bracket(tc.t0, tc.n0, tc.t1, tc.n1, tc.need, rate, tc.predicted)
			if d := got - tc.want; d < -tc.tolerance || d > tc.tolerance {
				t.Errorf("Bracket = %d, want %d ± %d", got, tc.want, tc.tolerance)
			}
		})
	}
}

// The predictor learns the device's period from tight stamps and predicts
// from the newest one, so stamps that leaned on it never feed it.
func TestPredictorFollowsTightStamps(t *testing.T) {
	const nominal = int64(256*1e9) / 48000
	truePeriod := float64(nominal) / (1 + 500e-6) // 500 ppm fast
	var p Predictor
	if _, ok := p.Predict(1); ok {
		t.Fatal("a prediction with nothing learned")
	}
	at := func(k uint64) int64 { return 1e9 + int64(float64(k)*truePeriod) }
	for k := uint64(1); k <= 1000; k++ {
		jitter := int64(k%3) - 1 // ±1 ns
		p.Learn(k, at(k)+jitter)
	}
	// Ten periods on, as after a run of stamps that leaned on it.
	got, ok := p.Predict(1010)
	if want := at(1010); !ok || got < want-50 || got > want+50 {
		per, _ := p.Period()
		t.Errorf("Predict = %d, %v, want %d ± 50 ns (period %.1f ns, true %.1f)", got, ok, want, per, truePeriod)
	}
	// A stamp far off (a stall a bracket did not catch) does not move
	// the measured period, though it becomes the anchor.
	before, _ := p.Period()
	p.Learn(1011, at(1011)+int64(truePeriod/10))
	if after, _ := p.Period(); after != before {
		t.Errorf("period moved from %.1f to %.1f on a stamp 10%% off", before, after)
	}
	p.Forget()
	if _, ok := p.Predict(1012); ok {
		t.Error("a prediction after Forget")
	}
	if per, ok := p.Period(); !ok || per != before {
		t.Errorf("Forget dropped the measured period: %.1f, %v", per, ok)
	}
}

// A tight stamp far from the prediction is a completion signalled late
// (a register written late), held and replaced by the prediction; a run of
// them is the device moving, which the predictor then follows.
func TestJudgeHoldsFlukes(t *testing.T) {
	const period = 5_333_333
	at := func(k uint64) int64 { return 1e9 + int64(k)*period }
	var p Predictor
	if got, ok := p.Judge(1, at(1)+int64(time.Millisecond)); !ok || got != at(1)+int64(time.Millisecond) {
		t.Fatalf("with nothing to predict: Judge = %d, %v; want the stamp", got, ok)
	}
	p.Reset()
	for k := uint64(1); k <= 10; k++ {
		p.Learn(k, at(k))
	}
	tests := []struct {
		name   string
		k      uint64
		stamp  int64
		wantOK bool // false: held, and Judge returns the prediction
	}{
		{"on time", 11, at(11) + 3_000, true},
		{"200 µs late: held", 12, at(12) + 200_000, false},
		{"early: held", 13, at(13) - 40_000, false},
		{"on time again", 14, at(14), true},
		// The device stepped 1 ms: three held, the fourth followed.
		{"step 1", 15, at(15) + 1e6, false},
		{"step 2", 16, at(16) + 1e6, false},
		{"step 3", 17, at(17) + 1e6, false},
		{"step 4: followed", 18, at(18) + 1e6, true},
		{"after the step", 19, at(19) + 1e6, true},
	}
	for _, tt := range tests {
		want := tt.stamp
		if !tt.wantOK {
			want, _ = p.Predict(tt.k)
			if d := want - at(tt.k); d < -5_000 || d > 5_000 {
				t.Fatalf("%s: the prediction %d is %d ns off the schedule", tt.name, want, d)
			}
		}
		got, ok := p.Judge(tt.k, tt.stamp)
		if got != want || ok != tt.wantOK {
			t.Fatalf("%s: Judge = %d, %v; want %d, %v", tt.name, got, ok, want, tt.wantOK)
		}
		if ok {
			p.Learn(tt.k, got)
		}
	}
}
