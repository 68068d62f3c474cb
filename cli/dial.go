package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/auth"
	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// natsContext is the part of a NATS CLI context file (`nats context save`) gaib uses.
type natsContext struct {
	URL         string `json:"url"`
	User        string `json:"user"`
	Password    string `json:"password"`
	Token       string `json:"token"`
	Creds       string `json:"creds"`
	NKey        string `json:"nkey"`
	InboxPrefix string `json:"inbox_prefix"`
}

// connection returns the URL and connect options selected by --server, NATS_URL,
// --context and --creds: explicit --server wins over the context's URL, explicit --creds
// over the context's credential.
func (g *Globals) connection() (string, []nats.Option, error) {
	url, opts, err := g.fromContext()
	if err != nil {
		return "", nil, err
	}
	if g.Server != "" {
		url = g.Server
	}
	if file := g.userCreds(); file != "" {
		opts = append(opts, nats.UserCredentials(file))
	}
	return url, opts, nil
}

// userCreds is --creds or NATS_CREDS, unless NATS_CREDS is the credential of the sandbox
// whose environment this shell carries (after eval "$(gaib sandbox connect NAME)"): that
// one is for the sandbox's worker, and gaib acts as you.
func (g *Globals) userCreds() string {
	if g.Creds == "" || g.given["creds"] {
		return g.Creds
	}
	id := os.Getenv("SANDBOX_ID")
	if id == "" || os.Getenv("NATS_CREDS") != g.Creds {
		return g.Creds
	}
	if name, err := identityOf(g.Creds); err == nil && name == id {
		return ""
	}
	return g.Creds
}

func (g *Globals) fromContext() (string, []nats.Option, error) {
	if g.Context == "" {
		return "", nil, nil
	}
	c, err := g.natsContext()
	if err != nil {
		return "", nil, err
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
	return c.URL, opts, nil
}

func (g *Globals) natsContext() (natsContext, error) {
	var c natsContext
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return c, err
		}
		dir = filepath.Join(home, ".config")
	}
	if filepath.Base(g.Context) != g.Context {
		return c, sandbox.Errorf(sandbox.CodeInvalidRequest, "context name %q is not a plain name", g.Context)
	}
	b, err := os.ReadFile(filepath.Join(dir, "nats", "context", g.Context+".json"))
	if err != nil {
		return c, sandbox.Errorf(sandbox.CodeInvalidRequest, "NATS context %q: %v", g.Context, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, sandbox.Errorf(sandbox.CodeInvalidRequest, "NATS context %q: %v", g.Context, err)
	}
	return c, nil
}

// credsFile is the credential the CLI acts with: --creds/NATS_CREDS, else the context's,
// else the local admin credential `gaib serve` writes, when it exists.
func (g *Globals) credsFile() string {
	if f := g.userCreds(); f != "" {
		return f
	}
	if g.Context != "" {
		if c, err := g.natsContext(); err == nil && c.Creds != "" {
			return c.Creds
		}
	}
	if f := auth.DefaultCredsFile(); f != "" {
		if _, err := os.Stat(f); err == nil {
			return f
		}
	}
	return ""
}

// identityOf returns the identity name a .creds file carries (its JWT's name).
func identityOf(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", sandbox.Errorf(sandbox.CodeUnauthenticated, "credential %s: %v", file, err)
	}
	token, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return "", sandbox.Errorf(sandbox.CodeUnauthenticated, "credential %s is not a NATS .creds file: %v", file, err)
	}
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return "", sandbox.Errorf(sandbox.CodeUnauthenticated, "credential %s: %v", file, err)
	}
	return uc.Name, nil
}

// dial connects the CLI to the mesh as the identity of its credential, with that
// identity's private inbox prefix (the only inbox its credential may subscribe to).
// extra options come last (a long-running command reconnects for ever).
func (g *Globals) dial(extra ...nats.Option) (*client.Client, error) {
	url, opts, err := g.connection()
	if err != nil {
		return nil, err
	}
	file := g.credsFile()
	if file == "" {
		// Say first when there is no mesh at all: that is what a new user has to fix.
		if c, err := client.Dial(url, g.Timeout, opts...); err != nil && errors.Is(err, sandbox.ErrUnavailable) {
			return nil, err
		} else if err == nil {
			c.Close()
		}
		return nil, sandbox.Errorf(sandbox.CodeUnauthenticated,
			"no credential: give --creds FILE (or NATS_CREDS), or run `gaib serve` on this machine, which writes %s", auth.DefaultCredsFile())
	}
	name, err := identityOf(file)
	if err != nil {
		return nil, err
	}
	if g.userCreds() == "" && g.Context == "" {
		opts = append(opts, nats.UserCredentials(file))
	}
	if sandbox.ValidateIdentity(name) == nil {
		opts = append(opts, nats.CustomInboxPrefix(sandbox.UserInbox(name)))
	}
	c, err := client.Dial(url, g.Timeout, append(opts, extra...)...)
	if err != nil {
		return nil, err
	}
	c.SetIdentity(name)
	return c, nil
}

// reconnectWait is how often a long-running command tries to reach a mesh that went away.
const reconnectWait = 500 * time.Millisecond

// withClient dials the mesh, runs fn and closes the connection, so every command exits
// promptly.
func (g *Globals) withClient(fn func(*client.Client) error) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// withLongClient is withClient for the long-running commands (--watch, events): their
// connection reconnects for as long as it takes; they decide when to give up.
func (g *Globals) withLongClient(fn func(*client.Client) error) error {
	c, err := g.dial(nats.MaxReconnects(-1), nats.ReconnectWait(reconnectWait))
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}
