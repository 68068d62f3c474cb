// Package auth is gaib's NATS identity plane, built on NATS decentralized auth (operator →
// account → user JWTs, github.com/nats-io/jwt/v2 and nkeys):
//
//   - the keys of a deployment gaib creates itself (embedded mode): operator, system
//     account and the gaib account, kept in a directory only gaib's user can read;
//   - one scoped signing key per role (admin, developer, gateway, sandbox), derived from the
//     mesh secret so every instance signs alike, each registered in the account JWT with a
//     permission template that confines its users to their own name ({{name()}});
//   - minting credentials (.creds documents) for identities and for sandboxes;
//   - building the account JWT (JetStream limits, role scopes, revocations) and pushing it
//     to the servers through the system account, which disconnects revoked clients at once.
//
// Nothing here decides who may do what in the services; it only shapes what NATS lets each
// credential publish and subscribe to.
package auth
