// Package jetstream keeps gaib's state in NATS JetStream: the KV buckets of sandbox records,
// the name index, per-owner quota slots and guild routes, and the streams the router reads
// and writes plus the audit stream. Every change of shared state is a KV create (atomic
// reservation) or an update on the revision read (compare-and-swap); nothing checks and
// then acts.
package jetstream
