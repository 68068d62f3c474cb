package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/sandbox"
)

// natsContext is the part of a NATS CLI context file (`nats context save`) gaib uses.
type natsContext struct {
	URL      string `json:"url"`
	User     string `json:"user"`
	Password string `json:"password"`
	Token    string `json:"token"`
	Creds    string `json:"creds"`
	NKey     string `json:"nkey"`
}

// connection returns the URL and connect options selected by --server, NATS_URL and
// --context; explicit --server wins over the context's URL.
func (g *Globals) connection() (string, []nats.Option, error) {
	if g.Context == "" {
		return g.Server, nil, nil
	}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", nil, err
		}
		dir = filepath.Join(home, ".config")
	}
	if filepath.Base(g.Context) != g.Context {
		return "", nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "context name %q is not a plain name", g.Context)
	}
	b, err := os.ReadFile(filepath.Join(dir, "nats", "context", g.Context+".json"))
	if err != nil {
		return "", nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "NATS context %q: %v", g.Context, err)
	}
	var c natsContext
	if err := json.Unmarshal(b, &c); err != nil {
		return "", nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "NATS context %q: %v", g.Context, err)
	}
	var opts []nats.Option
	switch {
	case c.Creds != "":
		opts = append(opts, nats.UserCredentials(c.Creds))
	case c.NKey != "":
		o, err := nats.NkeyOptionFromSeed(c.NKey)
		if err != nil {
			return "", nil, fmt.Errorf("NATS context %q: %w", g.Context, err)
		}
		opts = append(opts, o)
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	url := g.Server
	if url == "" {
		url = c.URL
	}
	return url, opts, nil
}

// dial connects the CLI to the mesh.
func (g *Globals) dial() (*Client, error) {
	url, opts, err := g.connection()
	if err != nil {
		return nil, err
	}
	return Dial(url, g.Timeout, opts...)
}
