package alert

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestKnownMatchesSlice holds known, whose first value lives inline, to a
// plain slice with the same rules: find by value, refresh on use, append
// until max, then replace the least recently used, the inline one included.
func TestKnownMatchesSlice(t *testing.T) {
	type entry struct {
		v    string
		last int64
	}
	values := []string{"a", "b", "c", "d", "e", "f"}
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		max := 1 + rng.IntN(4)
		var k known[string]
		var model []entry
		for step := range 60 {
			now := int64(step + 1)
			v := values[rng.IntN(len(values))]
			want := slices.IndexFunc(model, func(e entry) bool { return e.v == v })
			got := k.find(v)
			if got != want {
				t.Fatalf("seed %d step %d: find(%q) = %d, want %d", seed, step, v, got, want)
			}
			if got >= 0 {
				k.at(got).last = now
				model[want].last = now
			} else if len(model) < max {
				k.remember(v, now, max)
				model = append(model, entry{v, now})
			} else {
				k.remember(v, now, max)
				oldest := 0
				for i := range model {
					if model[i].last < model[oldest].last {
						oldest = i
					}
				}
				model[oldest] = entry{v, now}
			}
			if k.len() != len(model) {
				t.Fatalf("seed %d step %d: len %d, want %d", seed, step, k.len(), len(model))
			}
			for i, e := range model {
				if s := k.at(i); s.v.Value() != e.v || s.last != e.last {
					t.Fatalf("seed %d step %d: [%d] = %q@%d, want %q@%d", seed, step, i, s.v.Value(), s.last, e.v, e.last)
				}
			}
		}
	}
}

func TestKnownEmpty(t *testing.T) {
	var k known[string]
	if k.len() != 0 || k.find("a") != -1 {
		t.Fatalf("empty list: len %d, find %d", k.len(), k.find("a"))
	}
	k.remember("a", 1, 3)
	if k.len() != 1 || k.find("a") != 0 || len(k.rest) != 0 {
		t.Fatalf("one value: len %d, find %d, rest %d", k.len(), k.find("a"), len(k.rest))
	}
}
