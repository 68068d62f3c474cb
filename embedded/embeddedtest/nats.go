// Package embeddedtest starts real servers for tests, the way net/http/httptest does:
// an embedded nats-server with JetStream in a temp dir, and (in later files) Postgres and
// Redis from the installed binaries. Every server stops when the test ends.
package embeddedtest

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/embedded"
)

// NATS starts a JetStream nats-server on a random loopback port with its store in
// t.TempDir() (or in dir when given, to restart on the same data) and returns it.
func NATS(t testing.TB, dir ...string) *embedded.NATS {
	t.Helper()
	store := t.TempDir()
	if len(dir) > 0 {
		store = dir[0]
	}
	ns, err := embedded.StartNATS(embedded.NATSOptions{
		StoreDir: store, Listen: "127.0.0.1:-1",
		MaxMemory: 256 << 20, MaxStore: 2 << 30,
	})
	if err != nil {
		t.Fatalf("embedded nats: %v", err)
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// Conn connects to url and closes the connection when the test ends.
func Conn(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name(t.Name())}, opts...)...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}
