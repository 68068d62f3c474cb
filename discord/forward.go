package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// requestHeaders are the only client headers passed on: everything else (hop-by-hop,
// Authorization, cookies, forwarding and Host games) stays here.
var requestHeaders = []string{"Content-Type", "Accept", "User-Agent", "X-Audit-Log-Reason"}

// responseHeaders are the only upstream headers passed back (no cookies, no Cloudflare
// internals).
var responseHeaders = []string{
	"Content-Type", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
	"X-RateLimit-Reset-After", "X-RateLimit-Bucket", "X-RateLimit-Global", "X-RateLimit-Scope",
}

// userAgent is sent when the client sent none: Discord asks for a DiscordBot one.
const userAgent = "DiscordBot (https://github.com/arrakis/gaib, 1)"

// retryBody bounds how much of a 429 body is read for its retry_after.
const retryBody = 64 << 10

// reqBody is a request body and its length (-1: unknown).
type reqBody struct {
	r io.Reader
	n int64
}

func bytesBody(b []byte) reqBody { return reqBody{r: bytes.NewReader(b), n: int64(len(b))} }

// exchange is a request the proxy accepted: who sent it, where to, and its body.
type exchange struct {
	c    caller
	t    target
	rt   route
	body reqBody
	// release gives back the caller's in-flight slot (nil when none was taken).
	release func()
}

// ServeHTTP checks, budgets and forwards one request (see the package documentation).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	x, ref := p.admit(ctx, w, r)
	if x.release != nil {
		defer x.release()
	}
	if ref == nil && x.rt.kind == kindCallback && !x.c.production {
		ref = p.claim(ctx, x.c, x.rt)
	}
	if ref != nil {
		x.c.acct.count(p.cfg.Clock.Now(), ref.outcome())
		ref.write(w)
		return
	}
	h := http.Header{}
	for _, k := range requestHeaders {
		if v := r.Header.Values(k); len(v) > 0 {
			h[k] = slices.Clone(v)
		}
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", userAgent)
	}
	resp, ref := p.send(ctx, x.c.acct, x.rt, r.Method, x.t, h, x.body)
	if ref != nil {
		x.c.acct.count(p.cfg.Clock.Now(), outcomeUpstreamError)
		ref.write(w)
		return
	}
	defer resp.Body.Close()
	x.c.acct.count(p.cfg.Clock.Now(), outcomeForwarded)
	out := w.Header()
	for _, k := range responseHeaders {
		if v := resp.Header.Values(k); len(v) > 0 {
			out[k] = slices.Clone(v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, p.cfg.MaxResponse))
}

// admit runs every local check of a request: its target, who sent it, its size, the
// caller's own budget, whether it concerns the caller, and the body's references.
func (p *Proxy) admit(ctx context.Context, w http.ResponseWriter, r *http.Request) (x exchange, _ *refusal) {
	x.c = caller{acct: p.anonymous}
	var ref *refusal
	if x.t, ref = parseTarget(r); ref != nil {
		return x, ref
	}
	x.rt = classify(r.Method, x.t.segs)
	if x.c, ref = p.identify(ctx, r, x.rt); ref != nil {
		return x, ref
	}
	if r.ContentLength > p.cfg.MaxBody {
		return x, refuse(http.StatusRequestEntityTooLarge, discordTooLarge, sandbox.CodeTooLarge,
			"request body larger than %d bytes", p.cfg.MaxBody)
	}
	x.body = reqBody{r: http.MaxBytesReader(w, r.Body, p.cfg.MaxBody), n: r.ContentLength}
	if r.ContentLength == 0 {
		x.body = reqBody{}
	}
	if x.c.production {
		return x, nil
	}
	if x.release, ref = x.c.acct.admit(p.cfg.Clock.Now()); ref != nil {
		return x, ref
	}
	if ref = p.authorize(ctx, &x.c, x.rt); ref != nil {
		return x, ref
	}
	if inspected(x.rt) {
		x.body, ref = p.inspect(ctx, x.c, x.rt, r.Header.Get("Content-Type"), x.body)
	}
	return x, ref
}

// claim decides, atomically and across instances, that the worker answers this
// interaction; once the guard has answered it, the worker's callback is refused as
// Discord would refuse it.
func (p *Proxy) claim(ctx context.Context, c caller, rt route) *refusal {
	prev, err := p.ix.transition(ctx, rt.token, stateAnswered)
	switch {
	case err != nil:
		p.log.Warn("discord proxy: cannot claim interaction", "sandbox", c.info.ID, "err", err)
		return refuse(http.StatusServiceUnavailable, discordGeneral, sandbox.CodeUnavailable, "cannot record the interaction's answer now")
	case prev.State == stateGuarded:
		return refuse(http.StatusBadRequest, discordAlreadyAnswered, sandbox.CodeWrongState,
			"interaction has already been acknowledged: the deadline guard answered it after %s", p.cfg.Deadline)
	}
	p.disarm(rt.token)
	return nil
}

// send sends one request upstream with the bot token (none on interaction routes) once the
// shared limiter allows it, learns the rate-limit headers of the answer and counts it on
// acct (nil: the proxy's own request). The caller closes the response body.
func (p *Proxy) send(ctx context.Context, acct *account, rt route, method string, t target, h http.Header, body reqBody) (*http.Response, *refusal) {
	if ref := p.limiter.acquire(ctx, rt, acct != nil && acct.sandbox); ref != nil {
		return nil, ref
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.UpstreamTimeout)
	req, err := http.NewRequestWithContext(ctx, method, p.upstream+t.path(), body.r)
	if err != nil {
		cancel()
		return nil, refuse(http.StatusBadGateway, discordGeneral, sandbox.CodeUnavailable, "cannot build the upstream request")
	}
	req.ContentLength = body.n
	req.Header = h
	if rt.kind != kindCallback && rt.kind != kindFollowup {
		req.Header.Set("Authorization", "Bot "+string(p.token))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		cancel()
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			return nil, refuse(http.StatusRequestEntityTooLarge, discordTooLarge, sandbox.CodeTooLarge,
				"request body larger than %d bytes", p.cfg.MaxBody)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold an interaction token: keep it out of logs
		}
		p.log.Warn("discord proxy: upstream request failed", "route", rt.bucket, "err", err)
		return nil, refuse(http.StatusBadGateway, discordGeneral, sandbox.CodeUnavailable, "Discord did not answer")
	}
	retry, scope := retryAfter(resp), resp.Header.Get("X-RateLimit-Scope")
	p.limiter.learn(rt, resp.StatusCode, resp.Header, retry)
	if acct != nil {
		acct.answered(p.cfg.Clock.Now(), resp.StatusCode, scope)
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

// retryAfter reads the retry_after of a 429 body and puts the bytes back.
func retryAfter(resp *http.Response) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests {
		return 0
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, retryBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var v struct {
		RetryAfter json.Number `json:"retry_after"`
	}
	if json.Unmarshal(b, &v) == nil {
		if d, ok := seconds(v.RetryAfter.String()); ok {
			return d
		}
	}
	return 0
}

// cancelOnClose ends an upstream exchange's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
