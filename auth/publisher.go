package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Revocations is the durable list of revoked user keys the account JWT is built from
// (kept in JetStream KV by the jetstream package), and the state of every sandbox's
// account. Several gaib instances share them.
type Revocations interface {
	// Revocations returns every user public key still revoked, with its revocation time.
	Revocations(ctx context.Context) (map[string]time.Time, error)
	// Revoke records that credentials of pub issued up to at are revoked, until until.
	Revoke(ctx context.Context, pub string, at, until time.Time) error
	// Sandboxes returns the sandboxes whose accounts must exist on the servers: id → the
	// time its credentials were revoked (zero while it is live).
	Sandboxes(ctx context.Context) (map[string]time.Time, error)
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
	onPush func(account, jwt string)

	kick chan struct{} // wakes Run

	mu      sync.Mutex // one push at a time from this process; guards the fields below
	revoked map[string]time.Time
	pushed  map[string]time.Time // what the last successful push carried
	// sandboxes is the wanted state of each sandbox account (id → revocation time, zero
	// while live); sandboxesPushed what the servers were last given.
	sandboxes, sandboxesPushed map[string]time.Time
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
	// OnPush, when set, is called with every account JWT the servers accepted (embedded
	// mode stores it in the server's resolver).
	OnPush func(account, jwt string)
}

// NewPublisher returns a publisher.
func NewPublisher(c PublisherConfig) *Publisher {
	return &Publisher{is: c.Issuer, limits: c.Limits, signer: c.Signer, sys: c.System, source: c.Source, log: c.Log, onPush: c.OnPush,
		kick: make(chan struct{}, 1), sandboxes: map[string]time.Time{}, sandboxesPushed: map[string]time.Time{}}
}

// Sync reloads the revocation list and the sandboxes from the durable store and pushes the
// gaib account JWT built from them (always: at start, it also registers the role signing
// keys and the exports) and every sandbox's account JWT.
func (p *Publisher) Sync(ctx context.Context) error {
	return p.refresh(ctx, true)
}

// refresh reloads the lists and pushes what differs from the last push (or everything).
func (p *Publisher) refresh(ctx context.Context, always bool) error {
	revoked, err := p.source.Revocations(ctx)
	if err != nil {
		return fmt.Errorf("revocations: %w", err)
	}
	sandboxes, err := p.source.Sandboxes(ctx)
	if err != nil {
		return fmt.Errorf("sandbox accounts: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked = revoked
	for id, at := range sandboxes {
		p.sandboxes[id] = later(p.sandboxes[id], at)
	}
	if always {
		clear(p.sandboxesPushed)
	}
	var errs []error
	if always || !maps.EqualFunc(p.revoked, p.pushed, time.Time.Equal) {
		errs = append(errs, p.pushLocked(ctx))
	}
	errs = append(errs, p.pushSandboxesLocked(ctx))
	return errors.Join(errs...)
}

// later is the later of two revocation times (zero: not revoked). A sandbox's account never
// goes back from revoked to live: its id is never used again.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Sandbox pushes sandbox id's account JWT — live (revokedAt zero) or revoked — and returns
// once the servers took it: a sandbox's workers can connect once it is live, and are
// disconnected when it is revoked. A sandbox revoked before stays revoked.
func (p *Publisher) Sandbox(ctx context.Context, id string, revokedAt time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sandboxes[id] = later(p.sandboxes[id], revokedAt.UTC().Truncate(time.Second))
	return p.pushSandboxLocked(ctx, id)
}

// ApplySandbox records a sandbox's account state seen by a watch (another instance's
// destroy) and wakes Run to push it.
func (p *Publisher) ApplySandbox(id string, revokedAt time.Time) {
	p.mu.Lock()
	prev, known := p.sandboxes[id]
	p.sandboxes[id] = later(prev, revokedAt.UTC().Truncate(time.Second))
	changed := !known || !p.sandboxes[id].Equal(prev)
	p.mu.Unlock()
	if changed {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// pushSandboxesLocked pushes every sandbox account whose state differs from what was
// pushed; p.mu is held.
func (p *Publisher) pushSandboxesLocked(ctx context.Context) error {
	var errs []error
	for id, at := range p.sandboxes {
		if pushed, ok := p.sandboxesPushed[id]; ok && pushed.Equal(at) {
			continue
		}
		if err := p.pushSandboxLocked(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *Publisher) pushSandboxLocked(ctx context.Context, id string) error {
	at := p.sandboxes[id]
	ac, err := p.is.SandboxAccountClaims(id, at)
	if err != nil {
		return err
	}
	token, err := ac.Encode(p.signer)
	if err != nil {
		return err
	}
	if err := Push(ctx, p.sys, ac.Subject, token); err != nil {
		return fmt.Errorf("sandbox %s: %w", id, err)
	}
	p.sandboxesPushed[id] = at
	if p.onPush != nil {
		p.onPush(ac.Subject, token)
	}
	if at.IsZero() {
		p.warm(id)
	}
	return nil
}

// warm has the server load a new sandbox account by connecting to it once. A server loads
// an account when its first client connects, and sets up the account's imports just after
// making it visible: a second client connecting in that moment would find the imports
// missing ("no responders"). Loading it before anyone holds its credential closes that
// window on the server the mesh talks to. Best effort: a failure only leaves the window.
func (p *Publisher) warm(id string) {
	creds, err := p.is.Sandbox(id, time.Now().Add(time.Minute))
	if err != nil {
		return
	}
	opt, err := ConnectOption(creds)
	if err != nil {
		return
	}
	nc, err := nats.Connect(p.sys.ConnectedUrl(), opt, nats.Name("gaib-warm"), nats.MaxReconnects(0), nats.Timeout(5*time.Second))
	if err != nil {
		if p.log != nil {
			p.log.Debug("loading a sandbox account", "sandbox", id, "err", err)
		}
		return
	}
	nc.Close()
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
	var errs []error
	if !maps.EqualFunc(p.revoked, p.pushed, time.Time.Equal) {
		errs = append(errs, p.pushLocked(ctx))
	}
	errs = append(errs, p.pushSandboxesLocked(ctx))
	return errors.Join(errs...)
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
		p.onPush(p.is.Account(), token)
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
