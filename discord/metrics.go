package discord

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The proxy's metrics. Per-caller series are labelled with the sandbox id, "production"
// or "anonymous"; Forget drops a destroyed sandbox's series.
var (
	descRequests = prometheus.NewDesc("gaib_discord_requests_total",
		"Requests to the Discord proxy by caller (sandbox id, production, anonymous) and outcome (forwarded, refused, rate_limited, breaker_open, unauthorized, upstream_error).",
		[]string{"caller", "outcome"}, nil)
	descUpstream = prometheus.NewDesc("gaib_discord_upstream_responses_total",
		"Answers from Discord to a caller's requests by status class.", []string{"caller", "class"}, nil)
	descInvalid = prometheus.NewDesc("gaib_discord_invalid_requests_total",
		"401, 403 and (non-shared) 429 answers from Discord by caller: what Discord bans an IP for.", []string{"caller"}, nil)
	descBreakerOpen = prometheus.NewDesc("gaib_discord_breaker_open",
		"1 while a sandbox's invalid-request breaker refuses its requests.", []string{"caller"}, nil)
	descInteractions = prometheus.NewDesc("gaib_discord_interactions_total",
		"Interactions routed to a sandbox (recorded by this instance).", []string{"caller"}, nil)
	descGuard = prometheus.NewDesc("gaib_discord_guard_total",
		"Deadline guard outcomes per sandbox: sent (answered for a silent worker), failed, late.", []string{"caller", "result"}, nil)
	descChannels = prometheus.NewDesc("gaib_discord_channel_lookups_total",
		"Channel → guild lookups by source (memory, kv, fetched from Discord, negative answers), channel events observed and KV writes dropped.",
		[]string{"source"}, nil)
)

// collector exports the proxy's counters at scrape time from the same accounts Usage
// reads, so the two never disagree.
type collector struct{ p *Proxy }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descUpstream, descInvalid, descBreakerOpen, descInteractions, descGuard, descChannels} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	p := c.p
	now := p.cfg.Clock.Now()
	p.accountsMu.Lock()
	accts := []*account{p.production, p.anonymous}
	for _, a := range p.accounts {
		accts = append(accts, a)
	}
	p.accountsMu.Unlock()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, a := range accts {
		u := a.usage(now)
		for _, o := range outcomes {
			counter(descRequests, u.Requests[o], a.label, o)
		}
		for class, v := range u.Upstream {
			counter(descUpstream, v, a.label, class)
		}
		counter(descInvalid, u.Invalid, a.label)
		if !a.sandbox {
			continue
		}
		open := 0.0
		if u.BreakerOpenUntil != nil {
			open = 1
		}
		ch <- prometheus.MustNewConstMetric(descBreakerOpen, prometheus.GaugeValue, open, a.label)
		counter(descInteractions, u.Interactions, a.label)
		for _, r := range guardResults {
			counter(descGuard, u.Guard[r], a.label, r)
		}
	}
	s := &p.channels.stats
	for source, v := range map[string]uint64{
		"memory": s.memory.Load(), "kv": s.kv.Load(), "fetched": s.fetched.Load(), "negative": s.negative.Load(),
		"observed": s.observed.Load(), "dropped": s.dropped.Load(),
	} {
		counter(descChannels, v, source)
	}
}
