package node

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/api"
	"github.com/arrakis/gaib/sandbox"
)

// serveAPI starts the REST API on c.HTTPListen (when set) with a NATS connection of its
// own, the mesh's credential, so that its requests and streams never queue behind the
// services' own traffic. localAdmin is who --http-insecure acts as. It returns the API's
// URL for the ready line and how to stop it (the server, then the connection).
func (c *Config) serveAPI(ctx context.Context, np *natsPlane, localAdmin string, log *slog.Logger) (string, func(), error) {
	if c.HTTPListen == "" {
		if c.HTTPInsecure {
			return "", nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "--http-insecure needs --http ADDR")
		}
		return "", func() {}, nil
	}
	nc, err := nats.Connect(np.url, append(np.identity.mesh, nats.Name("gaib-api"), nats.MaxReconnects(-1))...)
	if err != nil {
		return "", nil, sandbox.Errorf(sandbox.CodeUnavailable, "the REST API cannot reach NATS at %s: %v", np.url, err)
	}
	srv, err := api.New(api.Config{Conn: nc, Insecure: c.HTTPInsecure, LocalAdmin: localAdmin, Log: log.With("part", "api")})
	if err != nil {
		nc.Close()
		return "", nil, err
	}
	l, err := srv.Listen(c.HTTPListen)
	if err != nil {
		nc.Close()
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, l); err != nil {
			log.Error("REST API stopped", "err", err)
		}
	}()
	return "http://" + l.Addr().String(), func() { cancel(); <-done; nc.Close() }, nil
}
