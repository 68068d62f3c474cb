package services

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// Bounds of the config responder: each sandbox may ask configRate times a second (bursts of
// configBurst), so that one worker looping on config.get cannot starve the others' answers
// or load the KV store.
const (
	configRate         = 20
	configBurst        = 40
	configReadTimeout  = 5 * time.Second
	maxConfigRateState = 4096
)

// configResponder answers the config requests of sandboxes' workers, which hold only their
// sandbox's credential: a request on sandbox.<id>.config.get is answered with sandbox <id>'s
// config, the id taken from the subject alone (NATS lets a worker publish only in its own
// namespace), whatever the request carries, and only into that sandbox's own inbox.
type configResponder struct {
	store *jetstream.Store
	nc    *nats.Conn
	log   *slog.Logger
	rate  *sandboxRate
	now   func() time.Time
}

// startConfigResponder subscribes the responder on nc (in a queue group: one mesh instance
// answers each request) until ctx ends.
func (m *Mesh) startConfigResponder(ctx context.Context, nc *nats.Conn, store *jetstream.Store, log *slog.Logger) error {
	r := &configResponder{store: store, nc: nc, log: log, rate: newSandboxRate(configRate, configBurst), now: time.Now}
	sub, err := nc.QueueSubscribe(sandbox.ConfigGetWildcard, sandbox.ConfigResponderQueue, func(msg *nats.Msg) { r.handle(ctx, msg) })
	if err != nil {
		return err
	}
	m.wg.Go(func() {
		<-ctx.Done()
		_ = sub.Unsubscribe()
	})
	return nil
}

// handle answers one request, or drops it: a subject that is not exactly
// sandbox.<id>.config.get or a reply subject outside the sandbox's inbox gets no answer at
// all, so the mesh publishes nowhere a worker could not publish itself.
func (r *configResponder) handle(ctx context.Context, msg *nats.Msg) {
	id, ok := sandbox.ConfigRequestID(msg.Subject)
	if !ok || !r.rate.allow(id, r.now()) {
		if ok && sandbox.ConfigReplyAllowed(id, msg.Reply) {
			r.respond(msg, nil, sandbox.Errorf(sandbox.CodeQuotaExceeded, "sandbox %s asks for its config more than %d times a second", id, configRate))
		}
		return
	}
	if !sandbox.ConfigReplyAllowed(id, msg.Reply) {
		r.log.Warn("config request refused: its reply subject is outside the sandbox's inbox", "sandbox", id, "reply", msg.Reply)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, configReadTimeout)
	defer cancel()
	cfg, err := r.store.SandboxConfig(ctx, id)
	if err != nil {
		r.respond(msg, nil, err)
		return
	}
	wc := workerConfig(cfg, nil)
	r.respond(msg, &wc, nil)
}

// respond answers like a micro endpoint: the document, or the error's stable code in the
// Nats-Service-Error-Code header and {"error": …} in the body.
func (r *configResponder) respond(msg *nats.Msg, wc *sandbox.WorkerConfig, err error) {
	out := nats.NewMsg(msg.Reply)
	if err != nil {
		e := sandbox.AsError(err)
		if e.Code == sandbox.CodeInternal {
			r.log.Error("config request", "subject", msg.Subject, "err", err)
			e = sandbox.Errorf(sandbox.CodeInternal, "the mesh could not read the config")
		}
		out.Header.Set(micro.ErrorCodeHeader, string(e.Code))
		out.Header.Set(micro.ErrorHeader, e.Message)
		out.Data, _ = json.Marshal(sandbox.ErrorBody{Error: e})
	} else {
		out.Data, _ = json.Marshal(wc)
	}
	if err := r.nc.PublishMsg(out); err != nil {
		r.log.Warn("config answer", "subject", msg.Subject, "err", err)
	}
}

// sandboxRate is a token bucket per sandbox id.
type sandboxRate struct {
	rate, burst float64
	mu          sync.Mutex
	state       map[string]*rateState
}

type rateState struct {
	tokens float64
	at     time.Time
}

func newSandboxRate(rate, burst float64) *sandboxRate {
	return &sandboxRate{rate: rate, burst: burst, state: map[string]*rateState{}}
}

// allow takes a token of id's bucket and reports whether there was one.
func (l *sandboxRate) allow(id string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, ok := l.state[id]
	if !ok {
		if len(l.state) >= maxConfigRateState {
			l.forgetFull(now)
		}
		st = &rateState{tokens: l.burst, at: now}
		l.state[id] = st
	}
	st.tokens = l.refilled(st, now)
	st.at = now
	if st.tokens < 1 {
		return false
	}
	st.tokens--
	return true
}

func (l *sandboxRate) refilled(st *rateState, now time.Time) float64 {
	return min(l.burst, st.tokens+now.Sub(st.at).Seconds()*l.rate)
}

// forgetFull drops the buckets that have refilled: they hold nothing a new one would not.
func (l *sandboxRate) forgetFull(now time.Time) {
	for id, st := range l.state {
		if l.refilled(st, now) >= l.burst {
			delete(l.state, id)
		}
	}
}
