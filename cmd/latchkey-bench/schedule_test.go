package main

import (
	"slices"
	"testing"
)

// TestScheduleInterleaves checks the order of the matrix's measurements:
// every cell measured reps times, each round one repetition of every cell,
// and two measurements of one cell separated by exactly one measurement of
// every other cell.
func TestScheduleInterleaves(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reps      int
		conc      []int
		scenarios []int
	}{
		{"one of each", 1, []int{1}, []int{1}},
		{"quick", 1, []int{1, 16}, []int{2, 1, 2, 2}},
		{"full", 3, []int{1, 16, 64, 256}, []int{2, 1, 1, 1, 1, 1, 2, 2}},
		{"one phase", 4, []int{64}, []int{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := schedule(tc.reps, tc.conc, tc.scenarios)
			var all []cellKey
			for ph, n := range tc.scenarios {
				for sc := range n {
					for _, c := range tc.conc {
						all = append(all, cellKey{ph, sc, c})
					}
				}
			}
			if len(steps) != tc.reps*len(all) {
				t.Fatalf("%d steps, want %d reps × %d cells", len(steps), tc.reps, len(all))
			}
			// Repetition-major: the repetition never goes back, and each
			// round is one measurement of every cell, in the same order.
			round := len(all)
			for i, s := range steps {
				if want := i / round; s.rep != want {
					t.Fatalf("step %d is repetition %d, want %d", i, s.rep, want)
				}
				first := steps[i%round]
				if s.conc != first.conc || s.phase != first.phase || s.scenario != first.scenario {
					t.Fatalf("step %d %+v is not round 0's step %d %+v in another repetition", i, s, i%round, first)
				}
			}
			for rep := range tc.reps {
				var got []cellKey
				for _, s := range steps[rep*round : (rep+1)*round] {
					got = append(got, cellKey{s.phase, s.scenario, s.conc})
				}
				slices.SortFunc(got, cmpCell)
				want := slices.Clone(all)
				slices.SortFunc(want, cmpCell)
				if !slices.Equal(got, want) {
					t.Fatalf("repetition %d measures %v, want every cell once: %v", rep, got, want)
				}
			}
			// Within a round concurrency is the outer order, then phase,
			// then scenario, so each concurrency is taken across every
			// phase before the next.
			for i := 1; i < round; i++ {
				a, b := steps[i-1], steps[i]
				ca, cb := slices.Index(tc.conc, a.conc), slices.Index(tc.conc, b.conc)
				if ca > cb || (ca == cb && (a.phase > b.phase || (a.phase == b.phase && a.scenario >= b.scenario))) {
					t.Fatalf("step %d %+v comes after %+v", i, b, a)
				}
			}
			// Between two measurements of a cell, every other cell once.
			last := map[cellKey]int{}
			for i, s := range steps {
				k := cellKey{s.phase, s.scenario, s.conc}
				if j, ok := last[k]; ok {
					between := map[cellKey]int{}
					for _, m := range steps[j+1 : i] {
						between[cellKey{m.phase, m.scenario, m.conc}]++
					}
					if len(between) != len(all)-1 || between[k] != 0 {
						t.Fatalf("between steps %d and %d of %+v: %v, want each of the %d other cells", j, i, k, between, len(all)-1)
					}
					for o, n := range between {
						if n != 1 {
							t.Fatalf("between steps %d and %d of %+v: %+v measured %d times, want 1", j, i, k, o, n)
						}
					}
				}
				last[k] = i
			}
		})
	}
}

// cellKey names one cell of a schedule.
type cellKey struct{ phase, scenario, conc int }

func cmpCell(a, b cellKey) int {
	if a.phase != b.phase {
		return a.phase - b.phase
	}
	if a.scenario != b.scenario {
		return a.scenario - b.scenario
	}
	return a.conc - b.conc
}

func TestScheduleEmpty(t *testing.T) {
	if s := schedule(0, []int{1}, []int{2}); len(s) != 0 {
		t.Errorf("no repetitions: %d steps, want none", len(s))
	}
	if s := schedule(2, []int{1, 16}, []int{0, 0}); len(s) != 0 {
		t.Errorf("no scenarios: %d steps, want none", len(s))
	}
}
