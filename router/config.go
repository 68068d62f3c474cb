package router

import (
	"time"

	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/sandbox"
)

// Config configures a Router. The zero value is usable: every field has a default.
type Config struct {
	// Durable is the name of the router's durable consumer on the gateway stream and of
	// its key in the state bucket; routers sharing it elect one active router among them.
	// Default "router".
	Durable string
	// Stream is the gateway stream. Default sandbox.StreamGateway.
	Stream string
	// Instance names this router in the lease (shown as Stats.Leader). Default a random id.
	Instance string

	// Window bounds the events published and not yet stored by their output stream.
	// Default 1024.
	Window int
	// WindowBytes bounds the bytes of those events (one event larger than it still passes,
	// alone). Default 16 MiB.
	WindowBytes int
	// PullBytes bounds each pull request from the gateway; at most about twice that is
	// buffered. It is raised to the server's max payload (plus headroom) when lower, or
	// the consumer could not receive the largest events. Default 4 MiB.
	PullBytes int
	// MaxEventBytes is the largest event (payload and headers) the router forwards; larger
	// events are dead-lettered (a reference on gaib.deadletter.<subject>, the event itself
	// stays in the gateway stream) and counted. Default and ceiling: the server's max
	// payload, less room for the router's headers.
	MaxEventBytes int
	// PublishTimeout bounds the wait for an output stream's acknowledgement. Default 10s.
	PublishTimeout time.Duration
	// AckWait is the gateway consumer's redelivery delay. The router never relies on
	// redelivery (it resets the consumer to its recorded position when it takes over), so
	// it is long. Default 5m.
	AckWait time.Duration

	// LeaseTTL is how long a router keeps the active role without renewing it: a standby
	// takes over this long after the last renewal it saw, and the active router stops
	// publishing a quarter of it earlier when it cannot renew. Default 5s.
	LeaseTTL time.Duration
	// CheckpointInterval is how often the active router records its position (at most;
	// the lease renewals in between keep the previous position). Shorter means less to read
	// back after a crash. Default 1s.
	CheckpointInterval time.Duration
	// ClockSkew is the clock difference tolerated between routers and servers when
	// recovery reads back outputs by time. Default 2s.
	ClockSkew time.Duration
	// StallAfter makes the router unhealthy when one event has been held (its output
	// stream missing or failing) this long. Default 30s.
	StallAfter time.Duration

	// RoutesBucket is the routes bucket Start watches when given none. Default
	// sandbox.BucketRoutes.
	RoutesBucket string
	// StateBucket is the KV bucket of leases and recorded positions. Default
	// sandbox.BucketRouter.
	StateBucket string
	// DeadLetterStream stores dead-letter references. Default sandbox.StreamDeadLetter.
	DeadLetterStream string
	// DeadLetterMaxBytes caps the dead-letter stream. Default 64 MiB.
	DeadLetterMaxBytes int64
	// Replicas of the state bucket and the dead-letter stream. Default 1.
	Replicas int

	// Observer, when set, sees every gateway event read and every interaction stored in a
	// sandbox (the Discord proxy of the same process).
	Observer Observer

	// Route overrides the output subject (benchmarks: a bare pass-through). Default: by
	// guild, through the route table.
	Route func(subject string, payload []byte) string
}

// headerReserve is the room kept under the max payload for the headers the router adds.
const headerReserve = 256

// withDefaults fills every zero field; maxPayload is the server's, from the connection.
func (c Config) withDefaults(maxPayload int64) Config {
	if c.Durable == "" {
		c.Durable = "router"
	}
	if c.Stream == "" {
		c.Stream = sandbox.StreamGateway
	}
	if c.Instance == "" {
		c.Instance = sandbox.NewID()
	}
	if c.Window <= 0 {
		c.Window = 1024
	}
	if c.WindowBytes <= 0 {
		c.WindowBytes = 16 << 20
	}
	if maxPayload <= 0 {
		maxPayload = 1 << 20 // unknown: the server's default
	}
	if c.PullBytes < int(maxPayload)+64<<10 {
		c.PullBytes = max(c.PullBytes, 4<<20, int(maxPayload)+64<<10)
	}
	if limit := int(maxPayload) - headerReserve; c.MaxEventBytes <= 0 || c.MaxEventBytes > limit {
		c.MaxEventBytes = limit
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 10 * time.Second
	}
	if c.AckWait <= 0 {
		c.AckWait = 5 * time.Minute
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 5 * time.Second
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = time.Second
	}
	if c.ClockSkew <= 0 {
		c.ClockSkew = 2 * time.Second
	}
	if c.StallAfter <= 0 {
		c.StallAfter = 30 * time.Second
	}
	if c.RoutesBucket == "" {
		c.RoutesBucket = sandbox.BucketRoutes
	}
	if c.StateBucket == "" {
		c.StateBucket = sandbox.BucketRouter
	}
	if c.DeadLetterStream == "" {
		c.DeadLetterStream = sandbox.StreamDeadLetter
	}
	if c.DeadLetterMaxBytes <= 0 {
		c.DeadLetterMaxBytes = 64 << 20
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	return c
}

// renewEvery is the lease renewal period; fenceAfter is how long after the last renewal
// that succeeded (counted from when it was sent) the active router stops publishing. A
// standby takes over LeaseTTL after it last saw the lease change, so a partitioned active
// router has stopped LeaseTTL/4 before anyone else starts.
func (c Config) renewEvery() time.Duration { return c.LeaseTTL / 4 }
func (c Config) fenceAfter() time.Duration { return c.LeaseTTL - c.LeaseTTL/4 }

// ConnectOptions are the options the router's dedicated connection needs: publishes fail
// at once while disconnected instead of being buffered and flushed on reconnect (a
// buffered output could land after another router took over), and reconnects never stop.
// Start refuses a connection that buffers.
func ConnectOptions(name string) []nats.Option {
	return []nats.Option{
		nats.Name(name),
		nats.ReconnectBufSize(-1),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}
}
