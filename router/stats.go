package router

import "sync/atomic"

// counters are the router's running totals.
type counters struct {
	in, toSandbox, toProduction, noGuild, parseErrors, publishErrors, unroutable atomic.Uint64
	noStream, deadLetters, skipped, recoveries, takeovers                        atomic.Uint64
}

// Stats is a snapshot of one router's counters and state, as the router service's stats
// endpoint returns it.
type Stats struct {
	// Instance identifies the router (its micro service instance id).
	Instance string `json:"instance"`
	// EventsIn counts gateway messages processed.
	EventsIn uint64 `json:"events_in"`
	// ToSandbox counts events stored in a sandbox.
	ToSandbox uint64 `json:"to_sandbox"`
	// ToProduction counts events stored in production (including those without a guild).
	ToProduction uint64 `json:"to_production"`
	// NoGuild counts events without a guild (DMs, READY): they go to production.
	NoGuild uint64 `json:"no_guild"`
	// ParseErrors counts payloads that are not JSON objects: they go to production.
	ParseErrors uint64 `json:"parse_errors"`
	// PublishErrors counts failed publishes other than a missing stream (each retried
	// until stored).
	PublishErrors uint64 `json:"publish_errors"`
	// NoStream counts publishes refused because no stream captures the output subject (a
	// sandbox destroyed before this router applied its route removal): the event is held
	// and retried, routed again each time, never sent elsewhere while its route stands.
	NoStream uint64 `json:"no_stream"`
	// Unroutable counts gateway subjects outside events.> and commands.> (dropped).
	Unroutable uint64 `json:"unroutable"`
	// DeadLetters counts events larger than MaxEventBytes, referenced on the dead-letter
	// subject instead of forwarded.
	DeadLetters uint64 `json:"dead_letters"`
	// Skipped counts events found already stored downstream when a router recovered (after
	// a crash, a fail-over or an uncertain publish): acknowledged, not published again.
	Skipped uint64 `json:"skipped"`
	// Recoveries counts the times this router resumed routing from its recorded position.
	Recoveries uint64 `json:"recoveries"`
	// Takeovers counts the times this router became the active one.
	Takeovers uint64 `json:"takeovers"`
	// Lag is the number of gateway messages not yet routed and acknowledged.
	Lag uint64 `json:"lag"`
	// LagUnknown is set when the lag could not be read (Lag is then not meaningful).
	LagUnknown bool `json:"lag_unknown,omitempty"`
	// Routes is the number of routes loaded.
	Routes int `json:"routes"`
	// InvalidRoutes counts route values that did not decode (their guilds go to production).
	InvalidRoutes uint64 `json:"invalid_routes,omitempty"`
	// Revision is the routes bucket revision applied.
	Revision uint64 `json:"revision"`
	// Active is set on the one router routing the gateway; the others stand by.
	Active bool `json:"active"`
	// Leader is the instance holding the lease, as this router last saw it.
	Leader string `json:"leader,omitempty"`
	// Acked is the gateway sequence recorded as stored downstream (the position a router
	// resumes from).
	Acked uint64 `json:"acked"`
	// Held is the gateway sequence of the event being retried (0: none).
	Held uint64 `json:"held,omitempty"`
	// Healthy is false when the router cannot do its part: LastError says why.
	Healthy bool `json:"healthy"`
	// LastError is why the router is unhealthy ("" when healthy).
	LastError string `json:"last_error,omitempty"`
}

func (c *counters) snapshot() Stats {
	return Stats{
		EventsIn: c.in.Load(), ToSandbox: c.toSandbox.Load(), ToProduction: c.toProduction.Load(),
		NoGuild: c.noGuild.Load(), ParseErrors: c.parseErrors.Load(), PublishErrors: c.publishErrors.Load(),
		Unroutable: c.unroutable.Load(), NoStream: c.noStream.Load(), DeadLetters: c.deadLetters.Load(),
		Skipped: c.skipped.Load(), Recoveries: c.recoveries.Load(), Takeovers: c.takeovers.Load(),
	}
}

// stored counts an event stored at its destination.
func (c *counters) stored(d destination) {
	switch d {
	case toSandbox:
		c.toSandbox.Add(1)
	case toProduction:
		c.toProduction.Add(1)
	case toDeadLetter:
		c.deadLetters.Add(1)
	}
}
