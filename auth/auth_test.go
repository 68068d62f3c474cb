package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/auth"
	"github.com/arrakis/gaib/auth/authtest"
	"github.com/arrakis/gaib/sandbox"
)

// staticRevocations is a revocation list held in memory (the mesh keeps it in KV).
type staticRevocations struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (s *staticRevocations) Revoke(_ context.Context, pub string, at, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[pub] = at
	return nil
}

func (s *staticRevocations) Revocations(context.Context) (map[string]time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]time.Time{}
	for k, v := range s.m {
		out[k] = v
	}
	return out, nil
}

type deployment struct {
	url    string
	is     *auth.Issuer
	mesh   *nats.Conn
	pub    *auth.Publisher
	revoke *staticRevocations
}

// startDeployment starts an operator-mode server with a fresh operator, system and gaib
// account, the way `gaib serve` does.
func startDeployment(t *testing.T) *deployment {
	t.Helper()
	d := authtest.Start(t, nil)
	rev := &staticRevocations{m: map[string]time.Time{}}
	return &deployment{url: d.URL, is: d.Issuer, mesh: d.Mesh(t), pub: d.Publisher(t, rev), revoke: rev}
}

func connect(t *testing.T, url string, creds []byte, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return authtest.Connect(t, url, creds, opts...)
}

func dial(url string, creds []byte, opts ...nats.Option) (*nats.Conn, error) {
	o, err := auth.ConnectOption(creds)
	if err != nil {
		return nil, err
	}
	return nats.Connect(url, append([]nats.Option{o, nats.MaxReconnects(0)}, opts...)...)
}

// permissionDenied publishes/subscribes and reports whether the server refused it.
func denied(t *testing.T, nc *nats.Conn, errs <-chan error, op func() error) bool {
	t.Helper()
	if err := op(); err != nil {
		return true
	}
	if err := nc.Flush(); err != nil {
		return true
	}
	select {
	case err := <-errs:
		return errors.Is(err, nats.ErrPermissionViolation)
	case <-time.After(500 * time.Millisecond):
		return false
	}
}

func TestSandboxCredentialIsConfinedToItsNamespace(t *testing.T) {
	d := startDeployment(t)
	ctx := context.Background()
	js, _ := jetstream.New(d.mesh)
	id, other := sandbox.NewID(), sandbox.NewID()
	for _, sid := range []string{id, other} {
		st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: sandbox.SandboxStream(sid), Subjects: sandbox.SandboxStreamSubjects(sid), AllowDirect: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: sandbox.SandboxConsumer, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
			t.Fatal(err)
		}
	}
	creds, err := d.is.Sandbox(id, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	nc := connect(t, d.url, creds, nats.CustomInboxPrefix(sandbox.SandboxInbox(id)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))

	for _, subj := range []string{"events.>", "gateway.>", sandbox.SandboxWildcard(other), "_INBOX.>", "gaib.>", "$SRV.>", "$KV.>", ">"} {
		if !denied(t, nc, errs, func() error { _, err := nc.SubscribeSync(subj); return err }) {
			t.Errorf("sandbox could subscribe to %s", subj)
		}
	}
	for _, subj := range []string{"gateway.events.member.join", "events.member.join", sandbox.SandboxSubject(other, "events.x"),
		"gaib.sandbox.create.alice", "gaib.audit.x.y", "$JS.API.STREAM.PURGE." + sandbox.SandboxStream(other),
		"$JS.API.CONSUMER.CREATE." + sandbox.SandboxStream(id), "$KV.gaib_routes.123456789012345678"} {
		if !denied(t, nc, errs, func() error { return nc.Publish(subj, []byte("{}")) }) {
			t.Errorf("sandbox could publish to %s", subj)
		}
	}

	// Its own events: routed by the mesh, consumed and acked through its durable.
	sjs, _ := jetstream.New(nc)
	if _, err := js.Publish(ctx, sandbox.SandboxSubject(id, "events.member.join"), []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	cons, err := sjs.Consumer(ctx, sandbox.SandboxStream(id), sandbox.SandboxConsumer)
	if err != nil {
		t.Fatalf("own durable: %v", err)
	}
	msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for m := range msgs.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatalf("ack: %v", err)
		}
		got++
	}
	if got != 1 {
		t.Fatalf("fetched %d events, want 1", got)
	}
	// ...but not another sandbox's durable.
	if _, err := sjs.Consumer(ctx, sandbox.SandboxStream(other), sandbox.SandboxConsumer); err == nil {
		t.Fatal("sandbox read another sandbox's consumer")
	}

	// Revoked: disconnected within seconds, and cannot come back.
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	pub, _ := d.is.SandboxKey(id)
	if err := d.pub.Revoke(ctx, pub, time.Now(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("revoked sandbox still connected after 5s")
	}
	if c, err := dial(d.url, creds); err == nil {
		c.Close()
		t.Fatal("revoked credential connected again")
	}
	// A credential past its expiry is refused.
	expired, err := d.is.Sandbox(other, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := dial(d.url, expired); err == nil {
		c.Close()
		t.Fatal("expired credential connected")
	}
}
