package discord

import "time"

// tokenBucket is a rate with a burst: rate tokens per second, at most burst saved up.
// The caller serialises access.
type tokenBucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

// newTokenBucket returns a full bucket of rate per second with a burst of one second's
// worth (at least 1).
func newTokenBucket(rate float64, now time.Time) *tokenBucket {
	burst := max(rate, 1)
	return &tokenBucket{rate: rate, burst: burst, tokens: burst, last: now}
}

func (b *tokenBucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
}

// wait returns how long until a token is available; 0 means one is available now.
func (b *tokenBucket) wait(now time.Time) time.Duration {
	b.refill(now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// take spends a token; call it only after wait returned 0.
func (b *tokenBucket) take() { b.tokens-- }

// breaker counts a sandbox's invalid requests (401, 403 and non-shared 429 answers from
// Discord) in a sliding window and opens once limit of them fall within it.
type breaker struct {
	limit  int
	window time.Duration
	// hits are the times of the last (at most limit) invalid requests, oldest first.
	hits []time.Time
}

// record counts an invalid request at now.
func (b *breaker) record(now time.Time) {
	if len(b.hits) == b.limit {
		copy(b.hits, b.hits[1:])
		b.hits = b.hits[:b.limit-1]
	}
	b.hits = append(b.hits, now)
}

// openUntil returns when the breaker closes again, or the zero time when it is closed.
func (b *breaker) openUntil(now time.Time) time.Time {
	if b.limit <= 0 || len(b.hits) < b.limit {
		return time.Time{}
	}
	until := b.hits[0].Add(b.window)
	if !until.After(now) {
		return time.Time{}
	}
	return until
}

// inWindow is the number of invalid requests within the window at now.
func (b *breaker) inWindow(now time.Time) int {
	n := 0
	for _, h := range b.hits {
		if h.Add(b.window).After(now) {
			n++
		}
	}
	return n
}
