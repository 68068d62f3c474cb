package router

import (
	"strings"

	"github.com/arrakis/gaib/sandbox"
)

// Observer sees what the router routes, in process: the Discord proxy learns which guild
// each channel belongs to from the gateway events, and arms its interaction deadline guard
// on the interactions routed to sandboxes. Taking them from the router rather than from a
// subscription means nothing a worker publishes on its own subjects can pose as routed.
// Both are called on the routing path and must return at once.
type Observer interface {
	// Observe sees every gateway event the router reads (gateway subject, payload).
	Observe(subject string, payload []byte)
	// ObserveInteraction sees every interaction stored in a sandbox (its subject there,
	// sandbox.<id>.commands.…, and the payload as published).
	ObserveInteraction(subject string, payload []byte)
}

// isSandboxInteraction reports whether an output subject is an interaction in a sandbox.
func isSandboxInteraction(subject string) bool {
	id, ok := sandbox.SandboxOfSubject(subject)
	return ok && strings.HasPrefix(subject, sandbox.SandboxSubject(id, sandbox.CommandsPrefix+"."))
}

// observeRead hands a gateway event to the observer.
func (r *Router) observeRead(subject string, payload []byte) {
	if r.cfg.Observer != nil {
		r.cfg.Observer.Observe(subject, payload)
	}
}

// observeStored hands an interaction stored in a sandbox to the observer.
func (r *Router) observeStored(x *item) {
	if r.cfg.Observer != nil && x.dest == toSandbox && isSandboxInteraction(x.out.Subject) {
		r.cfg.Observer.ObserveInteraction(x.out.Subject, x.out.Data)
	}
}
