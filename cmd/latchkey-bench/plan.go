package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/latchkeyhq/latchkey/policy"
)

// storePlan is one store, seeded once through a server of its own; each
// phase then serves a copy of the seeded data directory from a server
// process of its own, all of them alive together.
type storePlan struct {
	name string
	// keys root keys are created through the admin API at the first start.
	keys int
	// pool distinct tokens of the first key are minted at the first start.
	pool   int
	phases []phasePlan
}

// phasePlan is one server process over a copy of a store: its signing
// algorithm, the revocations imported into that copy, and what runs
// against it.
type phasePlan struct {
	variant     string
	alg         string
	revocations int
	scenarios   []scenario
	// ghz names the scenarios ghz cross-checks in this phase.
	ghz []string
}

// fullPoolSize exceeds what the server's verified-token cache holds (two
// generations of 16,384), and callers take the pool's tokens in one shared
// round, so each token comes back only after 40,000 others: every distinct
// introspection pays for a full verification.
const (
	fullPoolSize  = 40_000
	quickPoolSize = 2_000
	fullRevs      = 1_000_000
	quickRevs     = 10_000
)

// buildPlan is the whole matrix, or the quick one, with every scenario the
// filter does not match left out, and phases and stores left with nothing
// to run dropped.
func buildPlan(quick bool, filter *regexp.Regexp) []storePlan {
	var stores []storePlan
	algs := []string{policy.AlgorithmEdDSA, policy.AlgorithmES256}
	keyCounts := []int{1, 100, 100_000}
	pool, revs := fullPoolSize, fullRevs
	if quick {
		algs, keyCounts = algs[:1], keyCounts[:2]
		pool, revs = quickPoolSize, quickRevs
	}
	for _, n := range keyCounts {
		sp := storePlan{name: fmt.Sprintf("keys=%d", n), keys: n}
		for _, alg := range algs {
			ph := phasePlan{variant: fmt.Sprintf("keys=%d/%s", n, alg), alg: alg}
			if n == 1 && alg == policy.AlgorithmEdDSA {
				ph.scenarios = append(ph.scenarios, healthScenario())
				ph.ghz = []string{ghzExchange}
			}
			ph.scenarios = append(ph.scenarios, exchangeScenario(alg, n))
			sp.phases = append(sp.phases, ph)
		}
		stores = append(stores, sp)
	}
	intro := storePlan{name: "introspect", keys: 1, pool: pool}
	for _, r := range []int{0, revs} {
		ph := phasePlan{variant: fmt.Sprintf("revocations=%d", r), alg: policy.AlgorithmEdDSA, revocations: r,
			scenarios: []scenario{introspectScenario(true, r), introspectScenario(false, r)}}
		if r == 0 {
			ph.ghz = []string{ghzIntrospect}
		}
		intro.phases = append(intro.phases, ph)
	}
	stores = append(stores, intro)
	return filterPlan(stores, filter)
}

func filterPlan(stores []storePlan, filter *regexp.Regexp) []storePlan {
	var out []storePlan
	for _, sp := range stores {
		var phases []phasePlan
		for _, ph := range sp.phases {
			var keep []scenario
			for _, s := range ph.scenarios {
				if filter == nil || filter.MatchString(s.name) {
					keep = append(keep, s)
				}
			}
			var ghz []string
			for _, g := range ph.ghz {
				if filter == nil || filter.MatchString(g) {
					ghz = append(ghz, g)
				}
			}
			if len(keep) > 0 {
				ph.scenarios, ph.ghz = keep, ghz
				phases = append(phases, ph)
			}
		}
		if len(phases) > 0 {
			sp.phases = phases
			out = append(out, sp)
		}
	}
	return out
}

// scenarioNames lists the plan's scenarios in run order.
func scenarioNames(stores []storePlan) []string {
	var names []string
	for _, sp := range stores {
		for _, ph := range sp.phases {
			for _, s := range ph.scenarios {
				names = append(names, s.name)
			}
		}
	}
	return names
}

// dirName turns a store name into a folder name.
func dirName(s string) string {
	return "data-" + strings.NewReplacer("=", "-", "/", "-").Replace(s)
}
