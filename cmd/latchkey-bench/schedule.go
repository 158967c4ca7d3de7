package main

// step is one measurement of the matrix: repetition rep (from 0) of the
// scenario at index scenario of the phase at index phase, at concurrency
// conc.
type step struct {
	rep, conc, phase, scenario int
}

// schedule is the order of the matrix's measurements, given how many
// scenarios each phase has: repetition-major, then concurrency, then every
// phase's scenarios in plan order. Each round of it takes one repetition of
// every cell, so the figures of the same repetition of two cells are taken
// at most a round apart, and the machine's drift over minutes moves them
// together rather than the ratios between them.
func schedule(reps int, concurrency []int, scenarios []int) []step {
	var out []step
	for rep := range reps {
		for _, conc := range concurrency {
			for ph, n := range scenarios {
				for sc := range n {
					out = append(out, step{rep: rep, conc: conc, phase: ph, scenario: sc})
				}
			}
		}
	}
	return out
}
