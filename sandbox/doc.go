// Package sandbox is the domain shared by the gaib services and the CLI: sandbox ids and
// names, the records kept in JetStream KV, the wire types of the micro endpoints, every
// subject and derived resource name, and the error codes that travel between them.
//
// Nothing outside this package formats a subject or a derived name by hand.
package sandbox
