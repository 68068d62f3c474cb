// Package router moves Discord events from the gateway's stream to where they belong: the
// subject namespace of the sandbox a guild is registered to (sandbox.<id>.events.…), or
// production (events.…, commands.…). It keeps the route table in memory, fed live by a
// watch on the routes bucket, and never reads its own output, so it cannot loop.
//
// # One active router
//
// Any number of routers may run against one gateway stream; they elect one active router
// with a lease: one key per durable in the router's state bucket (sandbox.BucketRouter),
// renewed by compare-and-swap every LeaseTTL/4. A standby takes the key over when it is
// released, or has not changed for LeaseTTL as the standby observes it; the active router
// stops publishing when it could not renew for 3/4 of LeaseTTL, so a partitioned router
// has stopped before anyone else starts. Only the lease holder touches the durable
// consumer (creates, updates, repositions it), so a starting router never disturbs the
// one routing.
//
// # Exactly once, whatever the outage
//
// The lease key is also the checkpoint: the gateway sequence up to which every event is
// stored downstream (Acked), and a time before which nothing after it had been published
// (Since). Only the lease holder can move it. Every output carries its gateway sequence in
// the Gaib-Gateway-Seq header. A router that takes over (after a crash, a kill, a
// fail-over) or whose publish outcome became uncertain (a timeout, a lost connection)
// reads back, headers only, what the output streams stored between Since and the moment
// the previous holder's lease ran out, and skips the events it finds there; it repositions
// the consumer at Acked+1 (a consumer reset, so its deliver policy never changes and it
// can always be reopened; a missing consumer is recreated there, never at the start of
// the stream). Outputs found in streams a sandbox credential can write to count only when
// their payload is the gateway event's, so a forged header cannot make the router skip an
// event. The duplicate window of the output streams (Nats-Msg-Id gw-<seq>) stays as a
// second line for the few milliseconds of in-flight overlap that no lease can exclude.
//
// # Order
//
// Outputs are published asynchronously in gateway order and settled in that order. The
// router stops publishing as soon as anything goes wrong (an output not stored, a publish
// not sent, a reconnect), so no later event of a guild is stored ahead of an earlier one
// that has to be published again; it then either retries the event in place (refused by
// the stream: routed again on the current table each time, held while its sandbox's
// stream is missing) or reads back and resumes from the checkpoint. When the route table
// changes, what was routed under the old table settles before anything is routed under the
// new one: an event held under a guild's old route would otherwise be stored after later
// events of the guild that went straight to the new one.
//
// # Bounded memory
//
// The router runs on a connection of its own that never buffers publishes while
// reconnecting (ConnectOptions). Pulls are bounded in messages (Window) and bytes per
// request (PullBytes); published-but-unstored events are bounded in messages (Window) and
// bytes (WindowBytes). Events larger than MaxEventBytes are not forwarded: a reference
// (gateway stream and sequence) goes to gaib.deadletter.<subject>, stored in the router's
// dead-letter stream, and they are counted.
package router
