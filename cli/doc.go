// Package cli is the gaib command line (kong): the sandbox, router and events commands,
// which are NATS requesters only, and `serve`, which runs the mesh. Main is the whole
// program; cmd/gaib only calls it, so tests run the real CLI code path in-process.
package cli
