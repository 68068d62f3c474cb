package integration

import (
	"slices"
	"testing"
	"time"
)

// latencies collects samples and reports percentiles as benchmark metrics.
type latencies []time.Duration

func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// report adds p50/p99 (ms) of l under prefix to b's output.
func (l latencies) report(b *testing.B, prefix string) {
	b.ReportMetric(ms(l.percentile(0.50)), prefix+"p50-ms")
	b.ReportMetric(ms(l.percentile(0.99)), prefix+"p99-ms")
}
