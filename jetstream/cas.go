package jetstream

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// maxCASAttempts bounds the retries of a compare-and-swap under contention; each retry
// re-reads the value, so only a key rewritten this often in a row exhausts it.
const maxCASAttempts = 1000

// errDelete asks casUpdate to delete the key (at the revision read) instead of writing;
// errUnchanged asks it to write nothing.
var (
	errDelete    = errors.New("delete key")
	errUnchanged = errors.New("unchanged")
)

// casUpdate applies fn to the current value of key and writes the result only if the key
// is still at the revision fn saw, retrying from a fresh read when another writer won.
// fn gets nil when the key does not exist and then the write is an atomic create.
// It returns the written revision.
func casUpdate(ctx context.Context, kv jetstream.KeyValue, key string,
	fn func(old []byte) ([]byte, error)) (uint64, error) {
	for range maxCASAttempts {
		var (
			old []byte
			rev uint64
		)
		e, err := kv.Get(ctx, key)
		switch {
		case err == nil:
			old, rev = e.Value(), e.Revision()
		case errors.Is(err, jetstream.ErrKeyNotFound):
		default:
			return 0, err
		}
		val, err := fn(old)
		if errors.Is(err, errUnchanged) {
			return rev, nil
		}
		if errors.Is(err, errDelete) {
			if rev == 0 {
				return 0, nil
			}
			err = kv.Delete(ctx, key, jetstream.LastRevision(rev))
			if isConflict(err) {
				continue
			}
			return 0, err
		}
		if err != nil {
			return 0, err
		}
		if rev == 0 {
			rev, err = kv.Create(ctx, key, val)
		} else {
			rev, err = kv.Update(ctx, key, val, rev)
		}
		if isConflict(err) {
			continue
		}
		return rev, err
	}
	return 0, errors.New("compare-and-swap: too much contention on key " + key)
}

// isConflict reports whether err means another writer changed the key first.
func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}
