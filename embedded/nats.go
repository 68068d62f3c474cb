package embedded

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

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
}

// NATS is a running embedded nats-server with JetStream.
type NATS struct {
	srv *server.Server
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
		MaxPayload:         8 * 1024 * 1024,
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
	return &NATS{srv: srv}, nil
}

// ClientURL is the URL clients connect to (nats://host:port).
func (n *NATS) ClientURL() string { return n.srv.ClientURL() }

// Shutdown stops the server and waits until it has stopped.
func (n *NATS) Shutdown() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}
