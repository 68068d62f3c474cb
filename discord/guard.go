package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// Guard outcomes, as Usage and metrics count them.
const (
	guardSent   = "sent"   // the guard answered the interaction
	guardFailed = "failed" // it tried and Discord (or the bucket) refused
	guardLate   = "late"   // the deadline passed beyond Discord's 3 s: nothing left to answer
	// guardRefused: the sandbox's budget or breaker held the answer back. The guard's
	// answers are charged to the sandbox because what it answers may be forged: a worker
	// can publish on its own commands subjects.
	guardRefused = "refused"
)

var guardResults = []string{guardSent, guardFailed, guardLate, guardRefused}

// guardTimeout bounds the guard's own work (state change and callback) per interaction.
const guardTimeout = 5 * time.Second

// ObserveInteraction records an interaction routed to a sandbox (subject
// sandbox.<id>.commands.…, payload as the router published it) and arms the deadline
// guard for it. Run calls it for every message on sandbox.*.commands.> unless
// Config.NoInteractionSubscription; a router may call it itself instead (in process, so
// that nothing a worker publishes on its own subjects reaches it).
func (p *Proxy) ObserveInteraction(subject string, payload []byte) {
	p.timersMu.Lock()
	ctx := p.runCtx
	p.timersMu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	id, ok := sandbox.SandboxOfSubject(subject)
	if !ok {
		return
	}
	ix, ok := parseInteraction(id, payload)
	if !ok || (p.cfg.ApplicationID != "" && ix.ApplicationID != p.cfg.ApplicationID) {
		return
	}
	now := p.cfg.Clock.Now()
	acct := p.account(id)
	if !acct.allowInteraction(now) {
		return
	}
	// Discord's 3 s start when it created the interaction, which its id says; a clock
	// ahead of ours is clamped.
	ix.Created = now
	if created, ok := snowflakeTime(ix.ID); ok && created.Before(now) {
		ix.Created = created
	}
	ix.Due = ix.Created.Add(p.cfg.Deadline)
	created, err := p.ix.record(ctx, ix)
	if err != nil {
		p.log.Warn("discord proxy: cannot record interaction", "sandbox", id, "err", err)
		return
	}
	if created {
		acct.interaction()
	}
	if ix.guarded() {
		p.arm(ix)
	}
}

// arm starts the guard's timer for ix on this instance (once per interaction).
func (p *Proxy) arm(ix interaction) {
	key := sandbox.DiscordInteractionKey(ix.Token)
	p.timersMu.Lock()
	defer p.timersMu.Unlock()
	if p.runCtx == nil || p.runCtx.Err() != nil || p.timers[key] != nil {
		return
	}
	p.timers[key] = p.cfg.Clock.AfterFunc(ix.Due.Sub(p.cfg.Clock.Now()), func() { p.fire(key, ix) })
}

// disarm stops the guard's timer of an interaction this instance saw answered.
func (p *Proxy) disarm(token string) {
	key := sandbox.DiscordInteractionKey(token)
	p.timersMu.Lock()
	defer p.timersMu.Unlock()
	if t, ok := p.timers[key]; ok {
		t.Stop()
		delete(p.timers, key)
	}
}

// fire is the deadline: unless the worker's callback came first (on any instance), move
// the interaction to guarded — which only one instance can — and answer it.
func (p *Proxy) fire(key string, ix interaction) {
	p.timersMu.Lock()
	delete(p.timers, key)
	ctx := p.runCtx
	p.timersMu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, guardTimeout)
	defer cancel()
	acct := p.account(ix.Sandbox)
	if p.cfg.Clock.Now().After(ix.Created.Add(answerWindow)) {
		acct.guarded(guardLate)
		return
	}
	prev, err := p.ix.transition(ctx, ix.Token, stateGuarded)
	if err != nil {
		p.log.Warn("discord proxy: guard cannot claim interaction", "sandbox", ix.Sandbox, "interaction", ix.ID, "err", err)
		acct.guarded(guardFailed)
		return
	}
	if prev.State != statePending {
		return
	}
	name := ix.Sandbox
	if info, err := p.deps.Sandboxes.Sandbox(ctx, ix.Sandbox); err == nil && info.Name != "" {
		name = info.Name
	}
	release, ref := acct.admit(p.cfg.Clock.Now())
	if ref != nil {
		acct.guarded(guardRefused)
		return
	}
	defer release()
	status, err := p.answer(ctx, acct, ix, guardMessage(name))
	if err != nil || status/100 != 2 {
		p.log.Warn("discord proxy: guard answer failed", "sandbox", ix.Sandbox, "interaction", ix.ID, "status", status, "err", err)
		acct.guarded(guardFailed)
		return
	}
	acct.guarded(guardSent)
}

// guardMessage is the guard's answer: an ephemeral channel message (type 4, flags 64).
func guardMessage(name string) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": 4,
		"data": map[string]any{
			"content": fmt.Sprintf("sandbox `%s` did not answer in time — is its worker running?", name),
			"flags":   64,
		},
	})
	return b
}

// answer posts a callback for ix, without the bot token, on acct's budget.
func (p *Proxy) answer(ctx context.Context, acct *account, ix interaction, body []byte) (int, error) {
	t := target{segs: []string{"interactions", ix.ID, ix.Token, "callback"}}
	rt := classify(http.MethodPost, t.segs)
	h := http.Header{"Content-Type": {"application/json"}}
	resp, ref := p.send(ctx, acct, rt, http.MethodPost, t, h, bytesBody(body))
	if ref != nil {
		return ref.status, ref
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
