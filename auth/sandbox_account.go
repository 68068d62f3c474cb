package auth

import (
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/arrakis/gaib/sandbox"
)

// Limits of a sandbox's account: its workers, `gaib sandbox events` tails and the REST API's
// tails of it share SandboxMaxConnections connections, so one sandbox cannot take the
// server's connections (or the mesh's file descriptors) from the others; a thousand
// subscriptions is generous for a worker; payloads up to 1 MiB, like Discord events.
const (
	SandboxMaxConnections = 64
	sandboxMaxSubs        = 1000
	sandboxMaxPayload     = 1 << 20
)

// SandboxAccount is the public key of sandbox id's account.
func (is *Issuer) SandboxAccount(id string) (string, error) {
	kp, err := is.sandboxAccountPair(id)
	if err != nil {
		return "", err
	}
	return kp.PublicKey()
}

// sandboxAccountPair is the key of sandbox id's account, derived from the secret and the
// id: every instance knows it, nothing is stored, and destroy finds it from the id alone.
func (is *Issuer) sandboxAccountPair(id string) (nkeys.KeyPair, error) {
	if !sandbox.ValidID(id) {
		return nil, sandbox.Errorf(sandbox.CodeInvalidID, "%q is not a sandbox id", id)
	}
	return is.derive(nkeys.PrefixByteAccount, "nats-sandbox-account:"+id)
}

// SandboxAccountClaims builds sandbox id's account JWT. A live sandbox's account imports its
// own subjects of the gaib account (sandbox.WorkerImports), each with an activation token
// the gaib account's export key signs for this account and subject alone; it has no
// JetStream of its own and SandboxMaxConnections connections. A revoked one (revokedAt not
// zero: the sandbox is being or was destroyed) imports nothing, takes no connection, and
// revokes every credential issued before revokedAt, which disconnects its workers.
func (is *Issuer) SandboxAccountClaims(id string, revokedAt time.Time) (*jwt.AccountClaims, error) {
	pub, err := is.SandboxAccount(id)
	if err != nil {
		return nil, err
	}
	ac := jwt.NewAccountClaims(pub)
	ac.Name = "sandbox " + id
	ac.Limits.Conn = SandboxMaxConnections
	ac.Limits.LeafNodeConn = 0
	ac.Limits.Subs = sandboxMaxSubs
	ac.Limits.Payload = sandboxMaxPayload
	ac.Limits.Exports = 0
	if !revokedAt.IsZero() {
		ac.Limits.Conn = 0
		ac.Revocations = jwt.RevocationList{}
		ac.RevokeAt(jwt.All, revokedAt)
		return ac, nil
	}
	for _, imp := range sandbox.WorkerImports(id) {
		typ := jwt.Service
		if imp.Stream {
			typ = jwt.Stream
		}
		act := jwt.NewActivationClaims(pub)
		act.ImportSubject = jwt.Subject(imp.Subject)
		act.ImportType = typ
		act.IssuerAccount = is.account
		token, err := act.Encode(is.exports)
		if err != nil {
			return nil, err
		}
		ac.Imports.Add(&jwt.Import{Name: imp.Subject, Subject: jwt.Subject(imp.Subject), Account: is.account, Token: token, Type: typ})
	}
	return ac, nil
}

// workerExports are the gaib account's exports for the sandbox accounts
// (sandbox.WorkerExports), each needing an activation token.
func workerExports() jwt.Exports {
	var out jwt.Exports
	for _, e := range sandbox.WorkerExports() {
		exp := &jwt.Export{Name: "sandboxes: " + e.Subject, Subject: jwt.Subject(e.Subject), Type: jwt.Service, TokenReq: true}
		switch {
		case e.Stream:
			exp.Type = jwt.Stream
		case e.Responses:
			// A pull is answered with messages for as long as it waits (30 s by default in
			// the clients, heartbeats in between): keep its way back open well beyond it.
			exp.ResponseType, exp.ResponseThreshold = jwt.ResponseTypeStream, 5*time.Minute
		}
		out.Add(exp)
	}
	return out
}
