package discord

import (
	"net/http"
	"sync"
	"time"
)

// Labels of the callers that are not sandboxes.
const (
	callerProduction = "production"
	callerAnonymous  = "anonymous"
)

// Outcomes of a request, as metrics label them.
const (
	outcomeForwarded     = "forwarded"
	outcomeRefused       = "refused"
	outcomeRateLimited   = "rate_limited"
	outcomeBreakerOpen   = "breaker_open"
	outcomeUnauthorized  = "unauthorized"
	outcomeUpstreamError = "upstream_error"
)

var outcomes = []string{outcomeForwarded, outcomeRefused, outcomeRateLimited, outcomeBreakerOpen, outcomeUnauthorized, outcomeUpstreamError}

// account is one caller's budget and counters: a sandbox (with its own share, concurrency
// bound and invalid-request breaker), production or anonymous (counted only).
type account struct {
	label   string
	sandbox bool

	mu          sync.Mutex
	share       *tokenBucket
	rps         float64
	breaker     breaker
	inflight    int
	maxInFlight int
	outcomes    map[string]uint64
	statuses    map[int]uint64 // upstream answers by status class (2 for 2xx …)
	invalid     uint64
	// ixBudget bounds the interactions recorded for the sandbox: its worker can publish
	// on its own commands subjects, so what the proxy observes there may be forged.
	ixBudget  *tokenBucket
	ix        uint64
	ixDropped uint64
	guard     map[string]uint64
	last      time.Time
}

// interactionRate is how many interactions per second (and burst) the proxy records for
// one sandbox; a test guild's users do not click faster.
const interactionRate = 10

func newAccount(label string, sandbox bool, cfg Config, now time.Time) *account {
	a := &account{label: label, sandbox: sandbox, outcomes: map[string]uint64{}, statuses: map[int]uint64{}, guard: map[string]uint64{}}
	if sandbox {
		a.rps, a.share = cfg.SandboxRPS, newTokenBucket(cfg.SandboxRPS, now)
		a.breaker = breaker{limit: cfg.InvalidLimit, window: cfg.InvalidWindow}
		a.maxInFlight = cfg.MaxInFlight
		a.ixBudget = newTokenBucket(interactionRate, now)
	}
	return a
}

// admit spends one request of a sandbox's own budget, or refuses it: breaker open,
// too many requests in flight, or its share spent. release must be called once the
// request is done.
func (a *account) admit(now time.Time) (release func(), _ *refusal) {
	if !a.sandbox {
		return func() {}, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if until := a.breaker.openUntil(now); !until.IsZero() {
		ref := rateLimited(until.Sub(now), false, "sandbox %s caused %d invalid requests (401/403/429 from Discord) within %s; its requests are refused until %s",
			a.label, a.breaker.limit, a.breaker.window, until.UTC().Format(time.RFC3339))
		ref.label = outcomeBreakerOpen
		return nil, ref
	}
	if a.inflight >= a.maxInFlight {
		return nil, rateLimited(time.Second, false, "sandbox %s has %d requests in flight, its limit", a.label, a.maxInFlight)
	}
	if w := a.share.wait(now); w > 0 {
		return nil, rateLimited(w, false, "sandbox %s spent its budget of %g requests/s", a.label, a.rps)
	}
	a.share.take()
	a.inflight++
	return func() {
		a.mu.Lock()
		a.inflight--
		a.mu.Unlock()
	}, nil
}

// count records the outcome of a request.
func (a *account) count(now time.Time, outcome string) {
	a.mu.Lock()
	a.outcomes[outcome]++
	a.last = now
	a.mu.Unlock()
}

// answered records an answer from Discord; 401, 403 and 429 (but a 429 of a shared
// resource, which Discord does not count either) feed a sandbox's breaker.
func (a *account) answered(now time.Time, status int, scope string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.statuses[status/100]++
	if status == http.StatusUnauthorized || status == http.StatusForbidden ||
		(status == http.StatusTooManyRequests && scope != "shared") {
		a.invalid++
		if a.sandbox {
			a.breaker.record(now)
		}
	}
}

// allowInteraction spends one of the sandbox's interaction recordings, or counts the
// interaction as dropped.
func (a *account) allowInteraction(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ixBudget == nil || a.ixBudget.wait(now) > 0 {
		a.ixDropped++
		return false
	}
	a.ixBudget.take()
	return true
}

// interaction counts an interaction routed to the sandbox; guarded counts a guard
// outcome.
func (a *account) interaction() { a.mu.Lock(); a.ix++; a.mu.Unlock() }

func (a *account) guarded(result string) { a.mu.Lock(); a.guard[result]++; a.mu.Unlock() }

// Usage is one sandbox's use of the Discord proxy, as counted by this proxy instance since
// it started (budgets are per instance).
type Usage struct {
	Sandbox string `json:"sandbox"`
	// RPS is the sandbox's budget in requests per second.
	RPS float64 `json:"rps"`
	// Requests by outcome: forwarded, refused (policy), rate_limited (budget or shared
	// limits, answered locally), breaker_open, unauthorized, upstream_error.
	Requests map[string]uint64 `json:"requests"`
	// Upstream answers by status class ("2xx", "4xx", …).
	Upstream map[string]uint64 `json:"upstream"`
	// Invalid is every 401/403/429 Discord answered the sandbox's requests with.
	Invalid uint64 `json:"invalid"`
	// InvalidInWindow of InvalidLimit open the breaker.
	InvalidInWindow int `json:"invalid_in_window"`
	InvalidLimit    int `json:"invalid_limit"`
	// BreakerOpenUntil is set while the breaker refuses the sandbox's requests.
	BreakerOpenUntil *time.Time `json:"breaker_open_until,omitempty"`
	InFlight         int        `json:"in_flight"`
	// Interactions routed to the sandbox that this instance recorded, and those it dropped
	// beyond 10 per second.
	Interactions        uint64 `json:"interactions"`
	InteractionsDropped uint64 `json:"interactions_dropped"`
	// Guard outcomes: sent (the guard answered), failed, late (too late to answer),
	// refused (the sandbox's budget or breaker held the answer back).
	Guard       map[string]uint64 `json:"guard"`
	LastRequest *time.Time        `json:"last_request,omitempty"`
}

func (a *account) usage(now time.Time) Usage {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := Usage{
		Sandbox: a.label, RPS: a.rps, Requests: map[string]uint64{}, Upstream: map[string]uint64{},
		Invalid: a.invalid, InvalidInWindow: a.breaker.inWindow(now), InvalidLimit: a.breaker.limit,
		InFlight: a.inflight, Interactions: a.ix, InteractionsDropped: a.ixDropped, Guard: map[string]uint64{},
	}
	for k, v := range a.outcomes {
		u.Requests[k] = v
	}
	for k, v := range a.statuses {
		u.Upstream[string(rune('0'+k))+"xx"] = v
	}
	for k, v := range a.guard {
		u.Guard[k] = v
	}
	if until := a.breaker.openUntil(now); !until.IsZero() {
		u.BreakerOpenUntil = &until
	}
	if !a.last.IsZero() {
		last := a.last
		u.LastRequest = &last
	}
	return u
}
