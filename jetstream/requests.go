package jetstream

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// RequestState is a request's entry in the requests bucket, under its idempotency key.
type RequestState struct {
	// Holder is the instance executing the request while it is pending.
	Holder string `json:"holder,omitempty"`
	Done   bool   `json:"done"`
	// Response is the JSON answer of a request that succeeded; Error the stable error of
	// one that failed for good.
	Response json.RawMessage `json:"response,omitempty"`
	Error    *sandbox.Error  `json:"error,omitempty"`
	At       time.Time       `json:"at"`
}

// requestKey is the bucket key of (caller, operation, idempotency key): the key's text is
// the caller's own, so it is hashed into a valid KV key and callers never share one.
func requestKey(caller, op, key string) string {
	sum := sha256.Sum256([]byte(caller + "\x00" + op + "\x00" + key))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// BeginRequest claims an idempotency key for holder. It returns (zero, 0, nil) when the
// claim is new: the caller executes the request. Otherwise it returns the existing state
// and its revision: a finished outcome to answer with, or a pending one held by another
// instance (or a dead one: TakeOverRequest).
func (s *Store) BeginRequest(ctx context.Context, caller, op, key, holder string) (RequestState, uint64, error) {
	k := requestKey(caller, op, key)
	b, _ := json.Marshal(RequestState{Holder: holder, At: time.Now().UTC()})
	_, err := s.requests.Create(ctx, k, b)
	if err == nil {
		return RequestState{}, 0, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return RequestState{}, 0, err
	}
	e, err := s.requests.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return s.BeginRequest(ctx, caller, op, key, holder) // finished and expired meanwhile
	}
	if err != nil {
		return RequestState{}, 0, err
	}
	var st RequestState
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return RequestState{}, 0, sandbox.Errorf(sandbox.CodeInternal, "request record is corrupt")
	}
	return st, e.Revision(), nil
}

// TakeOverRequest claims a pending key whose holder died, by compare-and-swap on the
// revision BeginRequest returned; it reports whether this caller won.
func (s *Store) TakeOverRequest(ctx context.Context, caller, op, key, holder string, rev uint64) (bool, error) {
	b, _ := json.Marshal(RequestState{Holder: holder, At: time.Now().UTC()})
	_, err := s.requests.Update(ctx, requestKey(caller, op, key), b, rev)
	if isConflict(err) {
		return false, nil
	}
	return err == nil, err
}

// FinishRequest records a request's final outcome.
func (s *Store) FinishRequest(ctx context.Context, caller, op, key string, st RequestState) error {
	st.Done, st.Holder, st.At = true, "", time.Now().UTC()
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = s.requests.Put(ctx, requestKey(caller, op, key), b)
	return err
}

// AbandonRequest forgets a request that ended without a final outcome (the mesh was
// unavailable): a retry with the same key executes it again.
func (s *Store) AbandonRequest(ctx context.Context, caller, op, key string) error {
	return s.requests.Purge(ctx, requestKey(caller, op, key))
}
