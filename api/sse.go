package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// Stream timing: a comment line every keepalive keeps proxies from closing an idle
// stream and finds clients that left; a write that blocks longer than writeTimeout ends
// the stream.
const (
	keepalive    = 15 * time.Second
	writeTimeout = 10 * time.Second
)

// StreamEnd is the last event of a stream that ended on its own.
type StreamEnd struct {
	Reason string `json:"reason" example:"destroyed" doc:"Why the stream ended: destroyed (the sandbox is gone)."`
}

type eventsInput struct {
	SandboxPath
	FromStart bool `query:"from_start" doc:"Start with the first event still stored instead of the next one."`
}

func (s *Server) registerStreams() {
	const tag = "sandboxes"
	events := operation("tail-events", http.MethodGet, "/v1/sandboxes/{name}/events", tag, "Tail a sandbox's events (Server-Sent Events)",
		"The live tail of what the router sends to the sandbox, read with the sandbox's own credential (owner or admin). "+
			"Events: `start` (the sandbox's record), `event` (one routed message; id: its stream sequence), "+
			"`end` when the sandbox is destroyed, `error` (a problem) if the tail fails.",
		http.StatusNotFound, http.StatusConflict)
	s.streamResponse(&events, map[string]any{"start": sandbox.Record{}, "event": client.Event{}, "end": StreamEnd{}, "error": Problem{}})
	huma.Register(s.api, events, s.events)
	watch := operation("watch-sandbox", http.MethodGet, "/v1/sandboxes/{name}/watch", tag, "Watch a sandbox's record (Server-Sent Events)",
		"The record now, then again on every change (`record`; id: its revision), until it is destroyed (`end`).",
		http.StatusNotFound)
	s.streamResponse(&watch, map[string]any{"record": sandbox.Record{}, "end": StreamEnd{}, "error": Problem{}})
	huma.Register(s.api, watch, s.watch)
	s.registerAudit()
}

// streamResponse documents a text/event-stream answer made of the given events.
func (s *Server) streamResponse(op *huma.Operation, events map[string]any) {
	reg := s.api.OpenAPI().Components.Schemas
	var one []*huma.Schema
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range events {
			if !yield(k) {
				return
			}
		}
	}) {
		t := reflect.TypeOf(events[name])
		one = append(one, &huma.Schema{
			Title: "Event " + name, Type: huma.TypeObject, Required: []string{"event", "data"},
			Properties: map[string]*huma.Schema{
				"event": {Type: huma.TypeString, Enum: []any{name}, Description: "The event's name."},
				"id":    {Type: huma.TypeString, Description: "The event's id, when it has one."},
				"data":  reg.Schema(t, true, t.Name()),
			},
		})
	}
	op.Responses = map[string]*huma.Response{"200": {Description: "A stream of Server-Sent Events, UTF-8 text (one JSON document per data line).",
		Content: map[string]*huma.MediaType{"text/event-stream": {Schema: &huma.Schema{
			Type: huma.TypeArray, Description: "Each item is one event of the stream.", Items: &huma.Schema{OneOf: one}}}}}}
}

// events streams a sandbox's routed events. The tail starts (ownership checked, the
// sandbox's credential in hand, subscribed) before the answer does, so a refusal is a
// problem and every event published once the headers arrived is in the stream.
func (s *Server) events(ctx context.Context, in *eventsInput) (*huma.StreamResponse, error) {
	release, err := s.streams.acquire(identityOf(ctx))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	evs, started, done := make(chan client.Event), make(chan sandbox.Record, 1), make(chan error, 1)
	go func() {
		first := func(r sandbox.Record) {
			select {
			case started <- r: // the tail began; later changes need no signal
			default:
			}
		}
		done <- s.as(ctx).Tail(ctx, in.Name, client.TailOptions{FromStart: in.FromStart, Changed: first},
			func(ev client.Event) error {
				select {
				case evs <- ev:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
	}()
	var rec sandbox.Record
	select {
	case err := <-done:
		cancel()
		release()
		if errors.Is(err, client.ErrSandboxGone) {
			err = sandbox.Errorf(sandbox.CodeWrongState, "sandbox %q was destroyed", in.Name)
		}
		return nil, err
	case rec = <-started:
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		defer release()
		defer cancel()
		w := openStream(hctx)
		if w.send("start", "", rec) != nil {
			return
		}
		tick := time.NewTicker(keepalive)
		defer tick.Stop()
		for {
			var err error
			select {
			case ev := <-evs:
				err = w.send("event", strconv.FormatUint(ev.Sequence, 10), ev)
			case err := <-done:
				w.finish(ctx, err, errors.Is(err, client.ErrSandboxGone))
				return
			case <-tick.C:
				err = w.keepalive()
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}}, nil
}

// watch streams a sandbox's record on every change until it is destroyed. The first
// record is read before the answer starts, so an unknown sandbox is a 404 problem.
func (s *Server) watch(ctx context.Context, in *SandboxPath) (*huma.StreamResponse, error) {
	release, err := s.streams.acquire(identityOf(ctx))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var werr error
	recs := make(chan sandbox.Record)
	go func() {
		defer close(recs)
		werr = s.as(ctx).Watch(ctx, in.Name, client.WatchOptions{}, func(r sandbox.Record) error {
			select {
			case recs <- r:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	first, ok := <-recs
	if !ok {
		cancel()
		release()
		if werr == nil {
			werr = sandbox.Errorf(sandbox.CodeUnavailable, "the watch of %q ended before it began", in.Name)
		}
		return nil, werr
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		defer release()
		defer cancel()
		w := openStream(hctx)
		last := first
		if w.send("record", strconv.FormatUint(first.Revision, 10), first) != nil {
			return
		}
		tick := time.NewTicker(keepalive)
		defer tick.Stop()
		for {
			var err error
			select {
			case rec, ok := <-recs:
				if !ok {
					w.finish(ctx, werr, last.Status == sandbox.StatusDestroyed)
					return
				}
				last = rec
				err = w.send("record", strconv.FormatUint(rec.Revision, 10), rec)
			case <-tick.C:
				err = w.keepalive()
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}}, nil
}

// stream writes Server-Sent Events to one client.
type stream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// openStream starts a text/event-stream answer.
func openStream(hctx huma.Context) *stream {
	_, w := humago.Unwrap(hctx)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // proxies must not buffer a stream
	w.WriteHeader(http.StatusOK)
	return &stream{w: w, rc: http.NewResponseController(w)}
}

// send writes one event (data is one JSON line) and flushes it.
func (st *stream) send(event, id string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	msg := "event: " + event + "\n"
	if id != "" {
		msg += "id: " + id + "\n"
	}
	return st.write(msg + "data: " + string(b) + "\n\n")
}

func (st *stream) write(s string) error {
	_ = st.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := fmt.Fprint(st.w, s); err != nil {
		return err
	}
	return st.rc.Flush()
}

// keepalive writes a comment line: proxies keep an idle stream open, and a client that
// left is noticed.
func (st *stream) keepalive() error { return st.write(": keepalive\n\n") }

// finish ends a stream: `end` when the sandbox is gone, `error` with the problem when it
// failed otherwise, nothing when the client left.
func (st *stream) finish(ctx context.Context, err error, gone bool) {
	switch {
	case gone:
		_ = st.send("end", "", StreamEnd{Reason: "destroyed"})
	case err != nil && ctx.Err() == nil:
		_ = st.send("error", "", newProblem(0, "", "", err))
	}
}

// streamLimit bounds the streams held open, in all and per identity: each holds a NATS
// connection or a long poll of the mesh.
type streamLimit struct {
	mu       sync.Mutex
	max, per int
	total    int
	open     map[string]int
}

func newStreamLimit(max, per int) *streamLimit {
	return &streamLimit{max: max, per: per, open: map[string]int{}}
}

// acquire takes a stream slot for who, and returns how to give it back.
func (l *streamLimit) acquire(who string) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open[who] >= l.per:
		return nil, sandbox.Errorf(sandbox.CodeQuotaExceeded, "%s has %d streams open, the most one identity may: close one", who, l.per)
	case l.total >= l.max:
		return nil, sandbox.Errorf(sandbox.CodeUnavailable, "the REST API holds %d streams, its most: try again later", l.max)
	}
	l.open[who]++
	l.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.open[who]--; l.open[who] == 0 {
				delete(l.open, who)
			}
		})
	}, nil
}
