// Package integration holds the end-to-end tests and benchmarks of gaib: the real CLI code
// path (cli.Main, in-process, and the built binary) against real embedded NATS, Postgres
// and Redis servers. Discord is the only thing stood in for, by publishing gateway events.
package integration
