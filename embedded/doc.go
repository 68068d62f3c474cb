// Package embedded runs the servers gaib needs in-process or as child processes, so that
// `gaib serve` works with zero configuration and tests use real servers: a nats-server
// with JetStream (in-process), and Postgres and Redis started from the binaries installed
// on the machine.
package embedded
