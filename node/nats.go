package node

import (
	neturl "net/url"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/embedded"
	"github.com/arrakis/gaib/sandbox"
)

// connectNATS connects to c.NATSURL, or starts the embedded server when none is given.
// stop closes the connection and stops the embedded server.
func (c *Config) connectNATS() (nc *nats.Conn, url, where string, stop func(), err error) {
	url = c.NATSURL
	where, shutdown := "external", func() {}
	if url == "" {
		ns, err := embedded.StartNATS(embedded.NATSOptions{
			StoreDir: filepath.Join(c.DataDir, "nats"), Listen: c.Listen, Debug: c.Debug,
		})
		if err != nil {
			return nil, "", "", nil, sandbox.Errorf(sandbox.CodeUnavailable, "%v", err)
		}
		url, where, shutdown = ns.ClientURL(), "embedded, data in "+c.DataDir, ns.Shutdown
	}
	nc, err = nats.Connect(url, append(c.NATSOptions, nats.Name("gaib-serve"), nats.MaxReconnects(-1))...)
	if err != nil {
		shutdown()
		return nil, "", "", nil, sandbox.Errorf(sandbox.CodeUnavailable,
			"cannot reach NATS at %s: %v", url, err)
	}
	return nc, url, where, func() { nc.Close(); shutdown() }, nil
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
