package node

import (
	"log/slog"
	neturl "net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/auth"
	"github.com/arrakis/gaib/embedded"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
)

// natsPlane is the NATS this process runs on: the URL, how it authenticates, and the
// embedded server when it runs one.
type natsPlane struct {
	url, where string
	identity   *identityPlane
	server     *embedded.NATS // nil against an existing NATS
}

// startNATS starts the embedded server in operator mode, or prepares to join c.NATSURL.
func (c *Config) startNATS(secret sandbox.Secret) (*natsPlane, error) {
	if c.NATSURL != "" {
		ip, err := externalIdentity(c, secret)
		if err != nil {
			return nil, err
		}
		return &natsPlane{url: c.NATSURL, where: "external", identity: ip}, nil
	}
	ip, trust, err := embeddedIdentity(c.DataDir, secret)
	if err != nil {
		return nil, err
	}
	ns, err := embedded.StartNATS(embedded.NATSOptions{
		StoreDir: filepath.Join(c.DataDir, "nats"), Listen: c.Listen, Debug: c.Debug, Auth: trust,
	})
	if err != nil {
		return nil, sandbox.Errorf(sandbox.CodeUnavailable, "%v", err)
	}
	keep := ip.onPush
	ip.onPush = func(account, token string) {
		keep(account, token)
		ns.StoreAccount(account, token)
	}
	return &natsPlane{url: ns.ClientURL(), where: "embedded, data in " + c.DataDir, identity: ip, server: ns}, nil
}

// connect opens the mesh's own connection.
func (p *natsPlane) connect() (*nats.Conn, error) {
	nc, err := nats.Connect(p.url, append(p.identity.mesh, nats.Name("gaib-serve"), nats.MaxReconnects(-1))...)
	if err != nil {
		return nil, sandbox.Errorf(sandbox.CodeUnavailable, "cannot reach NATS at %s as the mesh: %v", p.url, err)
	}
	return nc, nil
}

// connectRouter opens the router's own connection (router.ConnectOptions: publishes are
// never buffered while disconnected).
func (p *natsPlane) connectRouter() (*nats.Conn, error) {
	nc, err := nats.Connect(p.url, append(slices.Clone(p.identity.mesh), router.ConnectOptions("gaib-router")...)...)
	if err != nil {
		return nil, sandbox.Errorf(sandbox.CodeUnavailable, "cannot reach NATS at %s for the router: %v", p.url, err)
	}
	return nc, nil
}

// connectResponder opens the connection the micro services answer on, with a credential of
// auth.RoleResponder: it may only publish into inboxes. Call it after the account JWT was
// pushed, which registers that role's signing key.
func (p *natsPlane) connectResponder(log *slog.Logger) (*nats.Conn, error) {
	creds, err := p.identity.issuer.Responder("gaib-responder")
	if err != nil {
		return nil, err
	}
	opt, err := auth.ConnectOption(creds)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(p.url, opt, nats.Name("gaib-responder"), nats.MaxReconnects(-1),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			// A reply the server refused: a request whose reply subject was not an inbox.
			log.Warn("responder connection", "err", err)
		}))
	if err != nil {
		return nil, sandbox.Errorf(sandbox.CodeUnavailable, "cannot reach NATS at %s as the services' responder: %v", p.url, err)
	}
	return nc, nil
}

// stop shuts the embedded server down.
func (p *natsPlane) stop() {
	if p.server != nil {
		p.server.Shutdown()
	}
}

// WithoutUserinfo strips credentials from a (comma-separated) NATS URL list: `connect`
// hands the URL to bot workers, who must never receive the mesh's own credentials.
func WithoutUserinfo(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := neturl.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = nil
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
