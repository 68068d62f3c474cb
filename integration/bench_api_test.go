package integration

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/arrakis/gaib/api"
	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// BenchmarkAPIGet compares reading a sandbox through the REST API (token check + get: two
// NATS requests, plus HTTP) with the same get over NATS, in the same run.
func BenchmarkAPIGet(b *testing.B) {
	m := startMesh(b, services.MeshConfig{})
	m.developer(b, "alice")
	ctx := context.Background()
	tok, err := client.Call[sandbox.TokenIssueResponse](ctx, m.client(tester), sandbox.ServiceUser, sandbox.OpTokenIssue, sandbox.TokenIssueRequest{Name: "alice"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.client("alice").Create(ctx, sandbox.CreateRequest{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	srv, err := api.New(api.Config{Conn: m.NC})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	b.Run("nats", func(b *testing.B) {
		c := m.client("alice")
		for b.Loop() {
			if _, err := c.Get(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("http", func(b *testing.B) {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/sandboxes/bench", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		for b.Loop() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
