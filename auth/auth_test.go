package auth_test

import (
	"context"
	"errors"
	"strconv"
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

// Sandboxes: the tests push sandbox accounts themselves.
func (s *staticRevocations) Sandboxes(context.Context) (map[string]time.Time, error) {
	return map[string]time.Time{}, nil
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

// sandboxes makes what a create makes on NATS for each id: its stream, its durable, its
// live account.
func (d *deployment) sandboxes(t *testing.T, js jetstream.JetStream, ids ...string) {
	t.Helper()
	ctx := context.Background()
	for _, sid := range ids {
		st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: sandbox.SandboxStream(sid), Subjects: sandbox.SandboxStreamSubjects(sid), AllowDirect: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: sandbox.SandboxConsumer, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
			t.Fatal(err)
		}
		if err := d.pub.Sandbox(ctx, sid, time.Time{}); err != nil {
			t.Fatalf("push the account of %s: %v", sid, err)
		}
	}
}

func TestSandboxCredentialIsConfinedToItsNamespace(t *testing.T) {
	d := startDeployment(t)
	ctx := context.Background()
	js, _ := jetstream.New(d.mesh)
	id, other := sandbox.NewID(), sandbox.NewID()
	d.sandboxes(t, js, id, other)
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
	if err := d.pub.Sandbox(ctx, id, time.Now()); err != nil {
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

// TestWorkerCannotHaveTheServerPublishForIt is the attack of a sandbox's worker that asks
// JetStream for something of its own (a message of its stream, a pull, an ack, stream and
// consumer info, a publish into its stream, its config) with a reply subject it forged: the
// server sends the answer to the reply subject, so in a shared account the worker could
// write its own bytes into the users or routes bucket, the audit trail, the gateway,
// production or another sandbox. In its own account the answer can only land there: the
// gaib account and the other sandbox see nothing, and the buckets and streams are as they
// were.
func TestWorkerCannotHaveTheServerPublishForIt(t *testing.T) {
	d := startDeployment(t)
	ctx := context.Background()
	js, _ := jetstream.New(d.mesh)
	id, victim := sandbox.NewID(), sandbox.NewID()
	d.sandboxes(t, js, id, victim)
	users, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: sandbox.BucketUsers})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.Put(ctx, "alice", []byte(`{"name":"alice","role":"developer"}`)); err != nil {
		t.Fatal(err)
	}
	for _, sc := range []jetstream.StreamConfig{{Name: "AUDIT", Subjects: []string{"gaib.audit.>"}}, {Name: "GATEWAY", Subjects: []string{"gateway.>"}},
		{Name: "EVENTS", Subjects: []string{"events.>"}}} {
		if _, err := js.CreateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	targets := []string{"$KV." + sandbox.BucketUsers + ".alice", sandbox.AuditSubject(victim, "destroy"), "gateway.events.member.join",
		"events.member.join", sandbox.SandboxSubject(victim, "events.member.join"), sandbox.SandboxSubject(victim, "work.x"),
		sandbox.SandboxInbox(victim) + ".x", "gaib.sandbox.destroy.bob"}

	// Spies: the gaib account, and the victim sandbox's own worker.
	vcreds, _ := d.is.Sandbox(victim, time.Now().Add(time.Hour))
	vnc := connect(t, d.url, vcreds, nats.CustomInboxPrefix(sandbox.SandboxInbox(victim)))
	var spies []*nats.Subscription
	for _, s := range targets {
		sub, err := d.mesh.SubscribeSync(s)
		if err != nil {
			t.Fatal(err)
		}
		spies = append(spies, sub)
	}
	for _, s := range []string{sandbox.SandboxWildcard(victim), sandbox.SandboxInbox(victim) + ".>"} {
		sub, err := vnc.SubscribeSync(s)
		if err != nil {
			t.Fatal(err)
		}
		spies = append(spies, sub)
	}
	_ = d.mesh.Flush()
	_ = vnc.Flush()

	creds, _ := d.is.Sandbox(id, time.Now().Add(time.Hour))
	nc := connect(t, d.url, creds, nats.CustomInboxPrefix(sandbox.SandboxInbox(id)))
	sjs, _ := jetstream.New(nc)
	// Its own payload in its own stream, forged as a users record.
	forged := []byte(`{"name":"alice","role":"admin"}`)
	ack, err := sjs.Publish(ctx, sandbox.SandboxSubject(id, "events.x"), forged)
	if err != nil {
		t.Fatalf("publish into its own stream: %v", err)
	}
	stream, durable := sandbox.SandboxStream(id), sandbox.SandboxStream(id)+"."+sandbox.SandboxConsumer
	for _, reply := range targets {
		for _, req := range []struct{ subject, body string }{
			{"$JS.API.DIRECT.GET." + stream, `{"seq":` + strconv.FormatUint(ack.Sequence, 10) + `}`},
			{"$JS.API.CONSUMER.MSG.NEXT." + durable, `{"batch":1,"no_wait":true}`},
			{"$JS.API.STREAM.INFO." + stream, ``},
			{"$JS.API.CONSUMER.INFO." + durable, ``},
			{sandbox.SandboxSubject(id, "events.y"), string(forged)},
			{sandbox.ConfigGetSubject(id), ``},
		} {
			if err := nc.PublishRequest(req.subject, reply, []byte(req.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// An ack with a forged reply, of a message really delivered.
	cons, err := sjs.Consumer(ctx, stream, sandbox.SandboxConsumer)
	if err != nil {
		t.Fatalf("own durable: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		for _, reply := range targets {
			if err := nc.PublishRequest(m.Reply(), reply, []byte("+ACK")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	for _, sub := range spies {
		// Anything but a timeout is a message (a status message, such as JetStream's "no
		// messages", comes back as an error).
		if m, err := sub.NextMsg(10 * time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
			t.Errorf("the server published on %s for the worker: %v %+v", sub.Subject, err, m)
		}
	}
	if e, err := users.Get(ctx, "alice"); err != nil || string(e.Value()) != `{"name":"alice","role":"developer"}` || e.Revision() != 1 {
		t.Errorf("alice's record after the attack: %v", err)
	}
	for _, name := range []string{"AUDIT", "GATEWAY", "EVENTS", sandbox.SandboxStream(victim)} {
		st, _ := js.Stream(ctx, name)
		if info, err := st.Info(ctx); err != nil || info.State.Msgs != 0 {
			t.Errorf("stream %s after the attack: %+v %v", name, info.State, err)
		}
	}
}
