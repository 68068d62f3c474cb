package services

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/sandbox"
)

// requestTimeout bounds the work of one request.
const requestTimeout = 2 * time.Minute

// op is the body of an endpoint: who asks, and what.
type op[Req, Resp any] func(context.Context, Caller, Req) (Resp, error)

// handle adapts an operation to a micro handler: it refuses oversized and malformed
// requests, resolves the caller from the request subject (never from the body), runs fn
// with a deadline, and answers either the JSON result or a micro error whose code header
// is the stable sandbox code and whose body is {"error": {...}}.
func handle[Req, Resp any](base context.Context, log *slog.Logger, users Users, fn op[Req, Resp]) micro.Handler {
	return handleOnce(base, log, users, nil, "", fn)
}

// handleIdempotent is handle for a mutating operation: a request carrying an idempotency
// key (HeaderIdempotencyKey) is executed at most once, and repeats get its outcome.
func handleIdempotent[Req, Resp any](base context.Context, log *slog.Logger, sb *Sandboxes, name string, fn op[Req, Resp]) micro.Handler {
	return handleOnce(base, log, sb.store, sb, name, fn)
}

func handleOnce[Req, Resp any](base context.Context, log *slog.Logger, users Users, sb *Sandboxes, name string, fn op[Req, Resp]) micro.Handler {
	return micro.HandlerFunc(func(r micro.Request) {
		if caller, _ := sandbox.CallerOf(r.Subject()); !sandbox.ReplyAllowed(caller, r.Reply()) {
			// Not answered, and not run: whoever chose that reply subject would only use the
			// answer to publish where they may not (the responder's credential refuses it too).
			log.Warn("request dropped: its reply subject is not the caller's inbox", "subject", r.Subject(), "reply", r.Reply())
			return
		}
		var req Req
		if err := decodeRequest(r.Data(), &req); err != nil {
			respondError(log, r, err)
			return
		}
		ctx, cancel := requestContext(base, r.Headers())
		defer cancel()
		caller, err := resolveCaller(ctx, users, r.Subject())
		if err != nil {
			respondError(log, r, err)
			return
		}
		if key := r.Headers().Get(sandbox.HeaderIdempotencyKey); sb != nil && key != "" {
			out, err := sb.once(ctx, caller, name, key, func() (any, error) { return fn(ctx, caller, req) })
			if err != nil {
				respondError(log, r, err)
				return
			}
			if err := r.Respond(out, micro.WithHeaders(micro.Headers{"Content-Type": {"application/json"}})); err != nil {
				log.Warn("respond", "subject", r.Subject(), "err", err)
			}
			return
		}
		resp, err := fn(ctx, caller, req)
		if err != nil {
			respondError(log, r, err)
			return
		}
		if err := r.RespondJSON(resp); err != nil {
			log.Warn("respond", "subject", r.Subject(), "err", err)
		}
	})
}

// deadlineMargin leaves the caller time to receive an answer sent just before its deadline.
const deadlineMargin = 250 * time.Millisecond

// requestContext bounds a request's work by requestTimeout and by the caller's deadline
// (the HeaderDeadline header): work never goes on after the caller stopped waiting, so a
// caller told "no answer" is not contradicted by a create finishing later.
func requestContext(base context.Context, h micro.Headers) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(requestTimeout)
	if v := h.Get(sandbox.HeaderDeadline); v != "" {
		if d, err := time.Parse(time.RFC3339Nano, v); err == nil && d.Add(-deadlineMargin).Before(deadline) {
			deadline = d.Add(-deadlineMargin)
		}
	}
	return context.WithDeadline(base, deadline)
}

// decodeRequest parses a request body strictly: one JSON object, no unknown fields, at most
// sandbox.MaxRequestBytes. An empty body is an empty request.
func decodeRequest(data []byte, v any) error {
	if len(data) > sandbox.MaxRequestBytes {
		return sandbox.Errorf(sandbox.CodeTooLarge, "request is %d bytes; the limit is %d", len(data), sandbox.MaxRequestBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return sandbox.Errorf(sandbox.CodeInvalidRequest, "request is not a valid JSON object for this endpoint: %v", err)
	}
	if dec.More() {
		return sandbox.Errorf(sandbox.CodeInvalidRequest, "request has data after the JSON object")
	}
	return nil
}

func respondError(log *slog.Logger, r micro.Request, err error) {
	e := sandbox.AsError(err)
	if errors.Is(err, context.DeadlineExceeded) {
		e = sandbox.Errorf(sandbox.CodeUnavailable, "request timed out: %v", err)
	}
	if e.Code == sandbox.CodeInternal {
		log.Error("request failed", "subject", r.Subject(), "err", err)
	}
	body, _ := json.Marshal(sandbox.ErrorBody{Error: e})
	if rerr := r.Error(string(e.Code), e.Message, body); rerr != nil {
		log.Warn("respond error", "subject", r.Subject(), "err", rerr)
	}
}
