package embedded

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
)

// NATSOptions configure an embedded nats-server.
type NATSOptions struct {
	// StoreDir holds JetStream's data; required, so that state survives restarts.
	StoreDir string
	// Listen is host:port; port -1 picks a free port. Default 127.0.0.1:4222.
	Listen string
	// MaxMemory and MaxStore cap JetStream (bytes); 0 lets the server decide.
	MaxMemory, MaxStore int64
	// ServerName names the server; default "gaib".
	ServerName string
	// Debug turns the server's own log on (to stderr).
	Debug bool
	// Auth, when set, runs the server in operator mode (decentralized JWT auth): only
	// credentials of the accounts it names are accepted.
	Auth *OperatorAuth
}

// OperatorAuth is the trust configuration of a server in operator mode.
type OperatorAuth struct {
	// Operator is the operator JWT the server trusts.
	Operator string
	// SystemAccount is the system account's public key.
	SystemAccount string
	// Accounts are the account JWTs the server starts with (public key → JWT); updates
	// and new accounts arrive later through the system account.
	Accounts map[string]string
	// ResolverDir, when set, keeps the account JWTs in a directory (nats-server's "full"
	// resolver, as production servers run): every account pushed through the system
	// account, new ones included, is stored there and survives restarts, and a JWT older
	// than the one stored is ignored. Without it they are kept in memory, and new accounts
	// exist only once stored with StoreAccount.
	ResolverDir string
}

// NATS is a running embedded nats-server with JetStream.
type NATS struct {
	srv      *server.Server
	resolver server.AccountResolver
}

// StartNATS starts a JetStream-enabled nats-server and waits until it accepts connections.
// The server never installs signal handlers (NoSigs): its owner decides when it stops.
func StartNATS(o NATSOptions) (*NATS, error) {
	if o.StoreDir == "" {
		return nil, errors.New("embedded nats: StoreDir is required")
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:4222"
	}
	host, portStr, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: listen address %q: %w", o.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: listen port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT // 0 would mean the default port 4222
	}
	if port > 0 {
		// Fail at once on a busy port rather than waiting for a server that cannot start.
		l, err := net.Listen("tcp", net.JoinHostPort(host, portStr))
		if err != nil {
			return nil, fmt.Errorf("embedded nats: cannot listen on %s: %w (another gaib serve or nats-server? choose another with --listen)", o.Listen, err)
		}
		l.Close()
	}
	if o.ServerName == "" {
		o.ServerName = "gaib"
	}
	opts := &server.Options{
		ServerName:         o.ServerName,
		Host:               host,
		Port:               port,
		JetStream:          true,
		StoreDir:           o.StoreDir,
		JetStreamMaxMemory: o.MaxMemory,
		JetStreamMaxStore:  o.MaxStore,
		NoSigs:             true,
		NoLog:              !o.Debug,
		Debug:              o.Debug,
		MaxPayload:         8 * 1024 * 1024,
	}
	var resolver server.AccountResolver
	if o.Auth != nil {
		op, err := jwt.DecodeOperatorClaims(o.Auth.Operator)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: operator JWT: %w", err)
		}
		resolver = &server.MemAccResolver{}
		if o.Auth.ResolverDir != "" {
			if resolver, err = server.NewDirAccResolver(o.Auth.ResolverDir, 0, time.Minute, server.NoDelete); err != nil {
				return nil, fmt.Errorf("embedded nats: account resolver in %s: %w", o.Auth.ResolverDir, err)
			}
		}
		for pub, token := range o.Auth.Accounts {
			if err := resolver.Store(pub, token); err != nil {
				return nil, fmt.Errorf("embedded nats: account %s: %w", pub, err)
			}
		}
		opts.TrustedOperators = []*jwt.OperatorClaims{op}
		opts.SystemAccount = o.Auth.SystemAccount
		opts.AccountResolver = resolver
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if o.Debug {
		srv.ConfigureLogger()
	}
	srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready on %s after 15s (is the port in use?)", o.Listen)
	}
	return &NATS{srv: srv, resolver: resolver}, nil
}

// StoreAccount replaces the JWT the server falls back to when it (re)loads an account, so
// that it never reverts to an older JWT than the last one pushed to it.
func (n *NATS) StoreAccount(pub, token string) {
	if n.resolver != nil {
		_ = n.resolver.Store(pub, token)
	}
}

// ClientURL is the URL clients connect to (nats://host:port).
func (n *NATS) ClientURL() string { return n.srv.ClientURL() }

// Shutdown stops the server and waits until it has stopped.
func (n *NATS) Shutdown() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}
