package router

import "sync/atomic"

// counters are the router's running totals.
type counters struct {
	in, toSandbox, toProduction, noGuild, parseErrors, publishErrors, unroutable atomic.Uint64
}

// Stats is a snapshot of one router's counters, as the router service's stats endpoint
// returns it.
type Stats struct {
	// Instance identifies the router (its micro service instance id).
	Instance string `json:"instance"`
	// EventsIn counts gateway messages processed.
	EventsIn uint64 `json:"events_in"`
	// ToSandbox counts events routed to a sandbox.
	ToSandbox uint64 `json:"to_sandbox"`
	// ToProduction counts events sent to production (including those without a guild).
	ToProduction uint64 `json:"to_production"`
	// NoGuild counts events without a guild (DMs, READY): they go to production.
	NoGuild uint64 `json:"no_guild"`
	// ParseErrors counts payloads that are not JSON objects: they go to production.
	ParseErrors uint64 `json:"parse_errors"`
	// PublishErrors counts failed publishes (each retried until stored).
	PublishErrors uint64 `json:"publish_errors"`
	// Unroutable counts gateway subjects outside events.> and commands.> (dropped).
	Unroutable uint64 `json:"unroutable"`
	// Lag is the number of gateway messages not yet routed and acknowledged.
	Lag uint64 `json:"lag"`
	// Routes is the number of routes loaded.
	Routes int `json:"routes"`
	// Revision is the routes bucket revision applied.
	Revision uint64 `json:"revision"`
}

func (c *counters) snapshot() Stats {
	return Stats{
		EventsIn: c.in.Load(), ToSandbox: c.toSandbox.Load(), ToProduction: c.toProduction.Load(),
		NoGuild: c.noGuild.Load(), ParseErrors: c.parseErrors.Load(), PublishErrors: c.publishErrors.Load(),
		Unroutable: c.unroutable.Load(),
	}
}
