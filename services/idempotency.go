package services

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// maxIdempotencyKey bounds an idempotency key.
const maxIdempotencyKey = 128

// once runs a mutating request at most once per (caller, op, key): the first request with a
// key executes and its outcome is kept (RequestRetention); a repeat answers with that
// outcome, or, while the first is still running, waits for it (bounded by the repeat's own
// deadline). An outcome that is not final (the mesh was unavailable) is forgotten, so a
// retry executes again. A first attempt whose instance died is taken over.
func (s *Sandboxes) once(ctx context.Context, c Caller, op, key string, run func() (any, error)) (json.RawMessage, error) {
	if len(key) > maxIdempotencyKey {
		return nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "idempotency key is longer than %d bytes", maxIdempotencyKey)
	}
	for {
		st, rev, err := s.store.BeginRequest(ctx, c.Name, op, key, s.instance)
		if err != nil {
			return nil, err
		}
		switch {
		case rev == 0:
			return s.execute(ctx, c, op, key, run)
		case st.Done && st.Error != nil:
			return nil, st.Error
		case st.Done:
			return st.Response, nil
		case st.Holder != s.instance && s.abandoned(ctx, &sandbox.Lease{Holder: st.Holder}):
			won, err := s.store.TakeOverRequest(ctx, c.Name, op, key, s.instance, rev)
			if err != nil {
				return nil, err
			}
			if won {
				return s.execute(ctx, c, op, key, run)
			}
		}
		select {
		case <-ctx.Done():
			return nil, sandbox.Errorf(sandbox.CodeUnavailable,
				"an earlier attempt of this request (idempotency key %q) is still running: ask again with the same key for its outcome", key)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// execute runs a claimed request and keeps its outcome.
func (s *Sandboxes) execute(ctx context.Context, c Caller, op, key string, run func() (any, error)) (json.RawMessage, error) {
	out, err := run()
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err != nil {
		e := sandbox.AsError(err)
		if e.Code == sandbox.CodeUnavailable || e.Code == sandbox.CodeInternal || errors.Is(err, context.DeadlineExceeded) {
			_ = s.store.AbandonRequest(kctx, c.Name, op, key)
		} else if ferr := s.store.FinishRequest(kctx, c.Name, op, key, jetstream.RequestState{Error: e}); ferr != nil {
			s.log.Warn("keep request outcome", "op", op, "err", ferr)
		}
		return nil, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	if ferr := s.store.FinishRequest(kctx, c.Name, op, key, jetstream.RequestState{Response: b}); ferr != nil {
		s.log.Warn("keep request outcome", "op", op, "err", ferr)
	}
	return b, nil
}
