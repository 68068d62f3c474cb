// Package services holds gaib's NATS micro services: sandbox (create, get, list, destroy,
// extend, connect, guild registration), router (stats, lookup) and cleanup (run, orphans),
// and Mesh, which runs several instances of each in one queue group.
//
// Services are stateless: all state is in JetStream KV (package jetstream), so any number
// of instances in any number of processes serve the same mesh.
package services
