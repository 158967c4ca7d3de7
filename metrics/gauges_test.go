package metrics

import (
	"strings"
	"sync"
	"testing"
)

const (
	familyKeys     = "latchkey_root_keys"
	familyWatchers = "latchkey_revocation_watchers"
	familyBuckets  = "latchkey_rate_limit_buckets"
)

func TestGaugeCallbacks(t *testing.T) {
	cases := []struct {
		name string
		set  func(*Metrics)
		// want maps "family" or "family/state" to a value; a family not
		// named must be absent.
		want map[string]float64
	}{
		{"unset", func(*Metrics) {}, nil},
		{"set to nil", func(m *Metrics) {
			m.SetKeyStates(nil)
			m.SetWatchers(nil)
			m.SetRateLimitBuckets(nil)
		}, nil},
		{"set", func(m *Metrics) {
			m.SetKeyStates(func() map[string]int {
				return map[string]int{"active": 7, "disabled": 1, "revoked": 2, "expired": 3}
			})
			m.SetWatchers(func() int { return 4 })
			m.SetRateLimitBuckets(func() int { return 1500 })
		}, map[string]float64{
			familyKeys + "/active": 7, familyKeys + "/disabled": 1, familyKeys + "/revoked": 2, familyKeys + "/expired": 3,
			familyWatchers: 4, familyBuckets: 1500,
		}},
		{"missing states report zero, unknown fold into other", func(m *Metrics) {
			m.SetKeyStates(func() map[string]int {
				return map[string]int{"active": 1, "suspended": 2, "lk_abc": 3}
			})
		}, map[string]float64{
			familyKeys + "/active": 1, familyKeys + "/disabled": 0, familyKeys + "/revoked": 0, familyKeys + "/expired": 0,
			familyKeys + "/other": 5,
		}},
		{"nil map", func(m *Metrics) {
			m.SetKeyStates(func() map[string]int { return nil })
		}, map[string]float64{
			familyKeys + "/active": 0, familyKeys + "/disabled": 0, familyKeys + "/revoked": 0, familyKeys + "/expired": 0,
		}},
		{"replaced", func(m *Metrics) {
			m.SetWatchers(func() int { return 1 })
			m.SetWatchers(func() int { return 2 })
		}, map[string]float64{familyWatchers: 2}},
		{"cleared after set", func(m *Metrics) {
			m.SetKeyStates(func() map[string]int { return map[string]int{"active": 1} })
			m.SetWatchers(func() int { return 1 })
			m.SetRateLimitBuckets(func() int { return 1 })
			m.SetKeyStates(nil)
			m.SetWatchers(nil)
			m.SetRateLimitBuckets(nil)
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			tc.set(m)
			got := map[string]float64{}
			for _, f := range []string{familyKeys, familyWatchers, familyBuckets} {
				for _, metric := range family(t, m.Registry(), f).GetMetric() {
					key := f
					if len(metric.GetLabel()) > 0 {
						key += "/" + metric.GetLabel()[0].GetValue()
					}
					got[key] = metric.GetGauge().GetValue()
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d series %v, want %d %v", len(got), got, len(tc.want), tc.want)
			}
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
				}
			}
		})
	}
}

func TestGaugeCallbacksReplacedDuringScrapes(t *testing.T) {
	m := New()
	const rounds = 200
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range rounds {
			switch i % 3 {
			case 0:
				m.SetKeyStates(func() map[string]int { return map[string]int{"active": i} })
				m.SetWatchers(func() int { return 1 })
				m.SetRateLimitBuckets(func() int { return 2 })
			case 1:
				m.SetKeyStates(nil)
				m.SetWatchers(nil)
				m.SetRateLimitBuckets(nil)
			case 2:
				m.SetWatchers(func() int { return 3 })
			}
		}
	}()
	errs := make(chan string, rounds)
	go func() {
		defer wg.Done()
		for range rounds / 4 {
			mfs, err := m.Registry().Gather()
			if err != nil {
				errs <- err.Error()
				continue
			}
			for _, mf := range mfs {
				if mf.GetName() != familyWatchers {
					continue
				}
				// Only the callbacks above exist; a torn read would show
				// as another value or a failed gather.
				if v := mf.GetMetric()[0].GetGauge().GetValue(); v != 1 && v != 3 {
					errs <- "watchers value from no callback"
				}
			}
		}
	}()
	// Scrape over HTTP at the same time as the setters and Gather run.
	var scrapes int
	for range 5 {
		if body := scrape(t, m); strings.Contains(body, "# TYPE go_goroutines") {
			scrapes++
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if scrapes != 5 {
		t.Errorf("%d of 5 concurrent scrapes returned the full exposition", scrapes)
	}
}

func TestPanickingCallbackDoesNotBreakScrape(t *testing.T) {
	const secret = "lk_panicvalue_0123456789abcdef"
	m := New()
	m.SetWatchers(func() int { panic(secret) })
	m.SetKeyStates(func() map[string]int { panic(secret) })
	m.SetRateLimitBuckets(func() int { return 9 })
	m.Exchange("granted")

	body := scrape(t, m)
	if strings.Contains(body, secret) {
		t.Error("exposition quotes the panic value")
	}
	for _, want := range []string{`latchkey_exchanges_total{result="granted"} 1`, "latchkey_rate_limit_buckets 9"} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	// The registry turned each panic into a gathering error, which the
	// handler counted instead of failing the scrape.
	mfs, err := m.Registry().Gather()
	if err == nil {
		t.Error("Gather with panicking callbacks returned no error")
	}
	gathering := -1.0
	for _, mf := range mfs {
		if mf.GetName() != "promhttp_metric_handler_errors_total" {
			continue
		}
		for _, metric := range mf.GetMetric() {
			if hasLabels(metric, []string{"cause", "gathering"}) {
				gathering = metric.GetCounter().GetValue()
			}
		}
	}
	if gathering != 1 {
		t.Errorf("promhttp_metric_handler_errors_total{cause=gathering} = %v, want 1", gathering)
	}
	for _, absent := range []string{familyWatchers, familyKeys} {
		if strings.Contains(body, absent+" ") || strings.Contains(body, absent+"{") {
			t.Errorf("exposition has %s from a panicking callback", absent)
		}
	}
}
