package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// keyStatesCollector reports latchkey_root_keys{state} from a callback
// that may be set, replaced or cleared while scrapes run.
type keyStatesCollector struct {
	desc *prometheus.Desc
	f    atomic.Pointer[func() map[string]int]
}

func newKeyStatesCollector() *keyStatesCollector {
	return &keyStatesCollector{desc: prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "", "root_keys"),
		"Root keys by lifecycle state.",
		[]string{"state"}, nil,
	)}
}

func (c *keyStatesCollector) set(f func() map[string]int) {
	if f == nil {
		c.f.Store(nil)
		return
	}
	c.f.Store(&f)
}

// Describe implements prometheus.Collector.
func (c *keyStatesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. Every known state is reported,
// zero when the callback leaves it out, so a state emptying shows as 0
// rather than a vanished series; "other" only appears when non-zero.
func (c *keyStatesCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.f.Load()
	if f == nil {
		return
	}
	counts := make(map[string]int, len(keyStates)+1)
	for state, n := range (*f)() {
		counts[fold(state, keyStates)] += n
	}
	for _, state := range keyStates {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[state]), state)
	}
	if n := counts[other]; n != 0 {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), other)
	}
}

// intGauge is an unlabelled gauge read from a replaceable callback.
type intGauge struct {
	desc *prometheus.Desc
	f    atomic.Pointer[func() int]
}

func newIntGauge(name, help string) *intGauge {
	return &intGauge{desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, nil, nil)}
}

func (g *intGauge) set(f func() int) {
	if f == nil {
		g.f.Store(nil)
		return
	}
	g.f.Store(&f)
}

// Describe implements prometheus.Collector.
func (g *intGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect implements prometheus.Collector. With no callback nothing is
// reported: an unknown value is not the same as zero.
func (g *intGauge) Collect(ch chan<- prometheus.Metric) {
	f := g.f.Load()
	if f == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64((*f)()))
}

var (
	_ prometheus.Collector = (*keyStatesCollector)(nil)
	_ prometheus.Collector = (*intGauge)(nil)
)
