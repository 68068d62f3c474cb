// Package authtest starts operator-mode nats-servers for tests, the way net/http/httptest
// starts HTTP servers: a fresh operator, system account and gaib account, an embedded
// JetStream server that trusts them, and credentials for the mesh, the system account and
// any identity. Every server stops when the test ends.
package authtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/auth"
	"github.com/arrakis/gaib/embedded"
	"github.com/arrakis/gaib/sandbox"
)

// Limits are the gaib account's limits in tests.
// JetStream only reserves stream limits against MaxStore (the disk stays mostly empty), so
// it is generous enough for gaib serve's default limits.
var Limits = auth.AccountLimits{MaxStore: 16 << 30, MaxMemory: 256 << 20, MaxConnections: -1}

// Deployment is a running operator-mode server and what a test needs to use it.
type Deployment struct {
	URL    string
	Server *embedded.NATS
	*auth.Local
	Secret sandbox.Secret
}

// Start starts an operator-mode JetStream server on a random loopback port with its store
// in t.TempDir(). A zero secret gets a random one.
func Start(t testing.TB, secret sandbox.Secret) *Deployment {
	t.Helper()
	if secret == nil {
		secret = sandbox.Secret(sandbox.NewID() + sandbox.NewID() + sandbox.NewID() + sandbox.NewID())
	}
	l, err := auth.NewLocal(filepath.Join(t.TempDir(), "auth"), secret)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := l.AccountJWT(Limits)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := embedded.StartNATS(embedded.NATSOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:-1",
		MaxMemory: Limits.MaxMemory, MaxStore: Limits.MaxStore,
		Auth: &embedded.OperatorAuth{Operator: l.OperatorJWT, SystemAccount: l.SystemAccount, Accounts: l.Accounts(acc),
			ResolverDir: t.TempDir()}})
	if err != nil {
		t.Fatalf("operator-mode nats: %v", err)
	}
	t.Cleanup(ns.Shutdown)
	return &Deployment{URL: ns.ClientURL(), Server: ns, Local: l, Secret: secret}
}

// Connect connects with a .creds document and closes the connection when the test ends.
func Connect(t testing.TB, url string, creds []byte, opts ...nats.Option) *nats.Conn {
	t.Helper()
	o, err := auth.ConnectOption(creds)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, append([]nats.Option{o, nats.Name(t.Name())}, opts...)...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Mesh connects as the mesh (no permission limits).
func (d *Deployment) Mesh(t testing.TB) *nats.Conn {
	t.Helper()
	creds, err := d.MeshCreds()
	if err != nil {
		t.Fatal(err)
	}
	return Connect(t, d.URL, creds)
}

// Responder connects as the services' responder (auth.RoleResponder); call it after the
// account JWT with the role signing keys was pushed (Publisher).
func (d *Deployment) Responder(t testing.TB) *nats.Conn {
	t.Helper()
	creds, err := d.Issuer.Responder("gaib-responder")
	if err != nil {
		t.Fatal(err)
	}
	return Connect(t, d.URL, creds)
}

// Publisher returns what pushes the account JWT built from source, connected as a system
// user, after a first push; it runs until the test ends.
func (d *Deployment) Publisher(t testing.TB, source auth.Revocations) *auth.Publisher {
	t.Helper()
	creds, err := d.SystemCreds()
	if err != nil {
		t.Fatal(err)
	}
	p := auth.NewPublisher(auth.PublisherConfig{Issuer: d.Issuer, Limits: Limits, Signer: d.Keys.Operator,
		System: Connect(t, d.URL, creds), Source: source,
		OnPush: d.Server.StoreAccount})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Sync(ctx); err != nil {
		t.Fatalf("push the account JWT: %v", err)
	}
	go p.Run(t.Context(), time.Minute)
	return p
}

// CredsFile writes a .creds document to a 0600 file in t.TempDir() and returns its path.
func CredsFile(t testing.TB, creds []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(path, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
