package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Revocations is the durable list of revoked user keys the account JWT is built from
// (kept in JetStream KV by the jetstream package). Several gaib instances share it.
type Revocations interface {
	// Revocations returns every user public key still revoked, with its revocation time.
	Revocations(ctx context.Context) (map[string]time.Time, error)
	// Revoke records that credentials of pub issued up to at are revoked, until until.
	Revoke(ctx context.Context, pub string, at, until time.Time) error
}

// Publisher keeps the gaib account JWT on the servers in step with the revocation list:
// Sync builds the JWT from the list, signs it with the operator (signing) key and pushes
// it through a system account connection. The servers disconnect clients whose credential
// a new revocation covers.
//
// It keeps the list in memory. Revoke writes the durable list and wakes Run, which pushes
// one JWT for a burst of changes within milliseconds (a destroy does not wait for it; its
// worker is disconnected moments later). Apply feeds it the bucket's changes (other
// instances' revocations) and Run pushes when the list differs from the last push; a
// periodic resync reloads the whole list. Several instances may push at once: each push
// carries every revocation its instance knows, so they converge to the whole list.
type Publisher struct {
	is     *Issuer
	limits AccountLimits
	signer nkeys.KeyPair
	sys    *nats.Conn
	source Revocations
	log    *slog.Logger
	onPush func(jwt string)

	kick chan struct{} // wakes Run

	mu      sync.Mutex // one push at a time from this process; guards the fields below
	revoked map[string]time.Time
	pushed  map[string]time.Time // what the last successful push carried
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Issuer *Issuer
	Limits AccountLimits
	// Signer is the operator key or one of its signing keys.
	Signer nkeys.KeyPair
	// System is a connection of a system account user.
	System *nats.Conn
	Source Revocations
	Log    *slog.Logger
	// OnPush, when set, is called with every JWT the servers accepted (embedded mode keeps
	// it on disk to preload at the next start).
	OnPush func(jwt string)
}

// NewPublisher returns a publisher.
func NewPublisher(c PublisherConfig) *Publisher {
	return &Publisher{is: c.Issuer, limits: c.Limits, signer: c.Signer, sys: c.System, source: c.Source, log: c.Log, onPush: c.OnPush,
		kick: make(chan struct{}, 1)}
}

// Sync reloads the revocation list from the durable store and pushes the account JWT
// built from it (always: at start, it also registers the role signing keys).
func (p *Publisher) Sync(ctx context.Context) error {
	return p.refresh(ctx, true)
}

// refresh reloads the list and pushes when it differs from the last push (or always).
func (p *Publisher) refresh(ctx context.Context, always bool) error {
	revoked, err := p.source.Revocations(ctx)
	if err != nil {
		return fmt.Errorf("revocations: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked = revoked
	if !always && maps.EqualFunc(p.revoked, p.pushed, time.Time.Equal) {
		return nil
	}
	return p.pushLocked(ctx)
}

// Revoke revokes the NATS user key pub (every credential issued for it up to at) until
// until (zero: forever): durably before it returns, and on the servers moments later (Run
// pushes it), which disconnects the key's clients.
func (p *Publisher) Revoke(ctx context.Context, pub string, at, until time.Time) error {
	if err := p.source.Revoke(ctx, pub, at, until); err != nil {
		return err
	}
	p.Apply(pub, at, false)
	return nil
}

// Apply records a change of the revocation list (from Revoke, or the bucket's watch:
// another instance's change) and wakes Run to push it; a change already pushed costs
// nothing.
func (p *Publisher) Apply(pub string, at time.Time, deleted bool) {
	p.mu.Lock()
	if p.revoked == nil {
		p.revoked = map[string]time.Time{}
	}
	if deleted {
		delete(p.revoked, pub)
	} else if prev, ok := p.revoked[pub]; !ok || at.After(prev) {
		p.revoked[pub] = at.UTC().Truncate(time.Second)
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Flush pushes what changed since the last push and returns once the servers took it.
func (p *Publisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if maps.EqualFunc(p.revoked, p.pushed, time.Time.Equal) {
		return nil
	}
	return p.pushLocked(ctx)
}

// PushBatch is how long Run gathers revocations before pushing them: a revoked client is
// disconnected within about this long (plus the push itself).
var PushBatch = 250 * time.Millisecond

// Run pushes the changes Revoke and Apply record, one push per burst, and reloads the
// whole list every resync (a safety net for a missed watch event; it also drops
// revocations whose credentials have expired), until ctx ends.
func (p *Publisher) Run(ctx context.Context, resync time.Duration) {
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
			// Let a burst of revocations gather into one push: the servers apply every
			// account update by reconfiguring the account's JetStream, which its clients
			// briefly see as unavailable, so fewer pushes disturb less.
			select {
			case <-ctx.Done():
				return
			case <-time.After(PushBatch):
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = p.Flush(pctx)
			cancel()
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = p.refresh(pctx, false)
			cancel()
		}
		if err != nil && ctx.Err() == nil && p.log != nil {
			p.log.Error("account JWT push failed; retrying at the next change or resync", "err", err)
		}
	}
}

// pushLocked signs and pushes the JWT of the list in memory; p.mu is held.
func (p *Publisher) pushLocked(ctx context.Context) error {
	token, err := AccountClaims(p.is, p.limits, p.revoked).Encode(p.signer)
	if err != nil {
		return err
	}
	if err := Push(ctx, p.sys, p.is.Account(), token); err != nil {
		return err
	}
	p.pushed = maps.Clone(p.revoked)
	if p.onPush != nil {
		p.onPush(token)
	}
	return nil
}

// claimsUpdateSubject is where the servers take account JWT updates from the system account.
func claimsUpdateSubject(account string) string {
	return "$SYS.REQ.ACCOUNT." + account + ".CLAIMS.UPDATE"
}

// Push sends an account JWT to the servers through a system account connection and waits
// for a server to accept it.
func Push(ctx context.Context, sys *nats.Conn, account, token string) error {
	msg, err := sys.RequestWithContext(ctx, claimsUpdateSubject(account), []byte(token))
	if err != nil {
		return fmt.Errorf("push account JWT: %w", err)
	}
	var resp struct {
		Data *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"data"`
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("push account JWT: bad answer %q", msg.Data)
	}
	if resp.Error != nil {
		return fmt.Errorf("push account JWT: server refused it (%d): %s", resp.Error.Code, resp.Error.Description)
	}
	return nil
}
