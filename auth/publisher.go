package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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
}

// Publisher keeps the gaib account JWT on the servers in step with the revocation list:
// Sync builds the JWT from the list, signs it with the operator (signing) key and pushes
// it through a system account connection. The servers disconnect clients whose credential
// a new revocation covers.
//
// Several instances may push at once: each builds from the whole list after its own
// change, and Watch re-pushes whenever the list changes, so the last push always carries
// every revocation.
type Publisher struct {
	is      *Issuer
	limits  AccountLimits
	signer  nkeys.KeyPair
	sys     *nats.Conn
	source  Revocations
	log     *slog.Logger
	onPush  func(jwt string)
	mu      sync.Mutex // one push at a time from this process
	lastJWT string
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
	return &Publisher{is: c.Issuer, limits: c.Limits, signer: c.Signer, sys: c.System, source: c.Source, log: c.Log, onPush: c.OnPush}
}

// Build returns the account JWT for the current revocation list, signed.
func (p *Publisher) Build(ctx context.Context) (string, error) {
	revoked, err := p.source.Revocations(ctx)
	if err != nil {
		return "", fmt.Errorf("revocations: %w", err)
	}
	return AccountClaims(p.is, p.limits, revoked).Encode(p.signer)
}

// Sync pushes the account JWT built from the current revocation list.
func (p *Publisher) Sync(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	token, err := p.Build(ctx)
	if err != nil {
		return err
	}
	if err := Push(ctx, p.sys, p.is.Account(), token); err != nil {
		return err
	}
	p.lastJWT = token
	if p.onPush != nil {
		p.onPush(token)
	}
	return nil
}

// Watch calls Sync whenever changed delivers (the revocation bucket's watch), coalescing
// bursts, and once every interval as a safety net, until ctx ends.
func (p *Publisher) Watch(ctx context.Context, changed <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-t.C:
		}
		// Let a burst of revocations settle into one push.
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
		for drained := false; !drained; {
			select {
			case <-changed:
			default:
				drained = true
			}
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := p.Sync(sctx); err != nil && ctx.Err() == nil {
			p.log.Error("account JWT push failed; retrying at the next change or interval", "err", err)
		}
		cancel()
	}
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
