// Package api is gaib's REST API: one more requester of the mesh's NATS micro services,
// over HTTP, for CI pipelines and tools without a NATS client.
//
// It implements no rule of its own. It authenticates a bearer token by asking the user
// service (gaib.user.authenticate), then calls the services as that identity on its own
// mesh connection (client.NewClient(conn, identity, timeout)), so ownership, quotas, the
// guild allow-list and the audit actor are decided where the CLI's requests are decided.
// It never reads or writes KV.
//
// The OpenAPI 3.1 document is generated from the Go types (huma) and served at
// /v1/openapi.json; errors are RFC 9457 problem details carrying gaib's stable codes.
package api
