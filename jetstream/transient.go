package jetstream

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// transientWindow bounds how long an operation retries transient JetStream errors before
// it reports the mesh unavailable.
const transientWindow = 5 * time.Second

// errCodeNoPeers is nats-server's JSClusterNoPeersErrF: the cluster cannot place a new
// stream's replicas now. Right after a node returns, the meta leader refuses to place on
// it until it has heard from it ("no suitable peers for placement, peer offline"), for a
// second or two.
const errCodeNoPeers jetstream.ErrorCode = 10005

// Transient reports whether err is one JetStream returns for a moment and then not: no
// responder for the API (a server applying an account update, a stream leader election,
// a reconnect), JetStream briefly not enabled for the account (nats-server applies every
// account JWT update by reconfiguring the account's JetStream), a timeout, or no peers to
// place a new stream on (a cluster node that just returned).
func Transient(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return false
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected):
		return true
	case errors.As(err, &apiErr):
		return apiErr.Code == 503 || apiErr.ErrorCode == errCodeNoPeers
	}
	return false
}

// retry runs op until it succeeds, fails with an error that is not transient, or
// transient errors last transientWindow (then it returns an unavailable error wrapping
// the last one). ctx bounds it too.
func retry[T any](ctx context.Context, op func() (T, error)) (T, error) {
	deadline := time.Now().Add(transientWindow)
	for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		v, err := op()
		if !Transient(err) {
			return v, err
		}
		if time.Now().Add(backoff).After(deadline) || ctx.Err() != nil {
			return v, sandbox.Errorf(sandbox.CodeUnavailable, "NATS JetStream is not answering: %v", err)
		}
		select {
		case <-ctx.Done():
			return v, sandbox.Errorf(sandbox.CodeUnavailable, "NATS JetStream is not answering: %v", err)
		case <-time.After(backoff):
		}
	}
}

// retryErr is retry for operations that return only an error.
func retryErr(ctx context.Context, op func() error) error {
	_, err := retry(ctx, func() (struct{}, error) { return struct{}{}, op() })
	return err
}

// retryingKV is a bucket whose operations retry transient errors (see Transient). Writes
// are safe to retry: creates and updates are conditional (a retry after a write that did
// land fails with a conflict, which the compare-and-swap loops resolve by reading again),
// and puts and deletes are idempotent.
type retryingKV struct {
	jetstream.KeyValue
}

func (kv retryingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	return retry(ctx, func() (jetstream.KeyValueEntry, error) { return kv.KeyValue.Get(ctx, key) })
}

func (kv retryingKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return retry(ctx, func() (uint64, error) { return kv.KeyValue.Put(ctx, key, value) })
}

func (kv retryingKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	return retry(ctx, func() (uint64, error) { return kv.KeyValue.Create(ctx, key, value, opts...) })
}

func (kv retryingKV) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	return retry(ctx, func() (uint64, error) { return kv.KeyValue.Update(ctx, key, value, revision) })
}

func (kv retryingKV) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	return retryErr(ctx, func() error { return kv.KeyValue.Delete(ctx, key, opts...) })
}

func (kv retryingKV) Purge(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	return retryErr(ctx, func() error { return kv.KeyValue.Purge(ctx, key, opts...) })
}

func (kv retryingKV) WatchAll(ctx context.Context, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	return retry(ctx, func() (jetstream.KeyWatcher, error) { return kv.KeyValue.WatchAll(ctx, opts...) })
}

func (kv retryingKV) Watch(ctx context.Context, keys string, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	return retry(ctx, func() (jetstream.KeyWatcher, error) { return kv.KeyValue.Watch(ctx, keys, opts...) })
}

func (kv retryingKV) Status(ctx context.Context) (jetstream.KeyValueStatus, error) {
	return retry(ctx, func() (jetstream.KeyValueStatus, error) { return kv.KeyValue.Status(ctx) })
}
