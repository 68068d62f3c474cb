package discord

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBuckets bounds the per-route states kept; beyond it, states whose reset has passed
// (they know nothing any more) are dropped.
const maxBuckets = 10000

// limiter holds the shared bot token's rate limits for every caller of this proxy
// instance: Discord's global limit, the cap on all sandboxes together (which keeps the
// rest of the global limit for production), and the per-route buckets Discord announces
// in its X-RateLimit-* headers. A 429 pauses its bucket, or everything when global, for
// every caller.
type limiter struct {
	clock   Clock
	maxWait time.Duration

	mu          sync.Mutex
	global      *tokenBucket
	sandboxes   *tokenBucket
	globalUntil time.Time
	// hashes maps a route (method and template) to the bucket Discord said it shares.
	hashes  map[string]string
	buckets map[string]*routeState
}

// routeState is what Discord last said of a bucket (for one major parameter).
type routeState struct {
	remaining int
	// reset is when remaining refills; before it, remaining 0 means wait.
	reset time.Time
}

func newLimiter(cfg Config) *limiter {
	now := cfg.Clock.Now()
	return &limiter{
		clock: cfg.Clock, maxWait: cfg.MaxWait,
		global: newTokenBucket(cfg.GlobalRPS, now), sandboxes: newTokenBucket(cfg.SandboxesRPS, now),
		hashes: map[string]string{}, buckets: map[string]*routeState{},
	}
}

// key is the state key of a route: Discord's bucket hash when known, else the route.
func (l *limiter) key(rt route) string {
	b := rt.bucket
	if h, ok := l.hashes[rt.bucket]; ok {
		b = h
	}
	return b + "|" + rt.major
}

// reserve takes what a request needs — a global token (unless it is an interaction
// route), a sandboxes' token for a sandbox's request, a slot of its route bucket — or
// takes nothing and says how long to wait and whether the wait is global.
func (l *limiter) reserve(rt route, fromSandbox bool) (time.Duration, bool) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if rt.global && now.Before(l.globalUntil) {
		return l.globalUntil.Sub(now), true
	}
	st := l.buckets[l.key(rt)]
	if st != nil && now.Before(st.reset) && st.remaining <= 0 {
		return st.reset.Sub(now), false
	}
	if rt.global {
		if w := l.global.wait(now); w > 0 {
			return w, true
		}
	}
	if fromSandbox {
		if w := l.sandboxes.wait(now); w > 0 {
			return w, true
		}
	}
	if rt.global {
		l.global.take()
	}
	if fromSandbox {
		l.sandboxes.take()
	}
	if st != nil && now.Before(st.reset) {
		st.remaining--
	}
	return 0, false
}

// acquire waits until reserve succeeds, at most maxWait in all, and otherwise refuses
// with a local 429 (nothing is sent to Discord).
func (l *limiter) acquire(ctx context.Context, rt route, fromSandbox bool) *refusal {
	start := l.clock.Now()
	for {
		wait, global := l.reserve(rt, fromSandbox)
		if wait <= 0 {
			return nil
		}
		if l.clock.Now().Add(wait).Sub(start) > l.maxWait {
			what := "its route bucket is"
			if global {
				what = "the shared global limit is"
			}
			return rateLimited(wait, global, "the bot token's rate limit: %s exhausted for %s", what, wait.Round(time.Millisecond))
		}
		if !sleep(l.clock, wait, ctx.Done()) {
			return rateLimited(wait, global, "request cancelled while waiting for the bot token's rate limit")
		}
	}
}

// learn applies what Discord answered: the route's bucket and its remaining requests, and
// for a 429 the pause (retryAfter from the body when it had one) of the bucket or, when
// global, of every route.
func (l *limiter) learn(rt route, status int, h http.Header, retryAfter time.Duration) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if hash := h.Get("X-RateLimit-Bucket"); hash != "" && len(l.hashes) < maxBuckets {
		l.hashes[rt.bucket] = hash
	}
	key := l.key(rt)
	st := l.buckets[key]
	if remaining, err := strconv.Atoi(h.Get("X-RateLimit-Remaining")); err == nil {
		if after, ok := seconds(h.Get("X-RateLimit-Reset-After")); ok {
			if st == nil {
				l.sweep(now)
				st = &routeState{}
				l.buckets[key] = st
			}
			st.remaining, st.reset = remaining, now.Add(after)
		}
	}
	if status != http.StatusTooManyRequests {
		return
	}
	if header, ok := seconds(h.Get("Retry-After")); ok && header > retryAfter {
		retryAfter = header
	}
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	until := now.Add(retryAfter)
	if strings.EqualFold(h.Get("X-RateLimit-Global"), "true") || h.Get("X-RateLimit-Scope") == "global" {
		if until.After(l.globalUntil) {
			l.globalUntil = until
		}
		return
	}
	if st == nil {
		l.sweep(now)
		st = &routeState{}
		l.buckets[key] = st
	}
	// retry_after is Discord's word on when to retry, over the headers' reset.
	st.remaining, st.reset = 0, until
}

// sweep drops bucket states that no longer constrain anything once there are too many.
func (l *limiter) sweep(now time.Time) {
	if len(l.buckets) < maxBuckets {
		return
	}
	for k, st := range l.buckets {
		if !now.Before(st.reset) {
			delete(l.buckets, k)
		}
	}
}

// seconds parses a non-negative number of seconds ("1", "0.25").
func seconds(s string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > 86400 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}
