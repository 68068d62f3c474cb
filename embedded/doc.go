// Package embedded runs the servers gaib needs in-process or as child processes, so that
// `gaib serve` works with zero configuration and tests use real servers: a nats-server
// with JetStream (in-process), and Postgres and Redis started from the binaries installed
// on the machine.
//
// When gaib runs as root, Postgres and redis-server run as unprivileged users ("postgres",
// "redis", else "nobody") with a minimal environment; gaib's own files (passwords, ports)
// stay in directories only root can write, and no link is ever followed when writing or
// chowning (files.go).
package embedded
