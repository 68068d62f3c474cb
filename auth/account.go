package auth

import (
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// AccountName is the name of the gaib account in its JWT.
const AccountName = "GAIB"

// AccountLimits are the account-wide limits put in the gaib account JWT.
type AccountLimits struct {
	// MaxStore and MaxMemory cap JetStream file and memory storage (bytes); -1 is
	// unlimited (every stream and bucket has its own limit anyway).
	MaxStore, MaxMemory int64
	// MaxConnections caps connections to the account; -1 is unlimited.
	MaxConnections int64
}

// AccountClaims builds the gaib account JWT's claims: JetStream enabled with lim, the role
// signing keys of is with their permission templates, the exports of the sandboxes'
// subjects to their own accounts (and the key that signs their activations), and the
// revocations (user public key
// → revocation time: every credential of that key issued before it is refused, and clients
// connected with it are disconnected).
func AccountClaims(is *Issuer, lim AccountLimits, revoked map[string]time.Time) *jwt.AccountClaims {
	ac := jwt.NewAccountClaims(is.Account())
	ac.Name = AccountName
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{
		DiskStorage: lim.MaxStore, MemoryStorage: lim.MaxMemory, Streams: jwt.NoLimit, Consumer: jwt.NoLimit,
		MaxAckPending: jwt.NoLimit, MemoryMaxStreamBytes: jwt.NoLimit, DiskMaxStreamBytes: jwt.NoLimit,
	}
	ac.Limits.Conn = lim.MaxConnections
	ac.Limits.LeafNodeConn = jwt.NoLimit
	for _, s := range is.Scopes() {
		ac.SigningKeys.AddScopedSigner(s)
	}
	ac.SigningKeys.Add(is.ExportsKey())
	ac.Exports = workerExports()
	for pub, at := range revoked {
		ac.RevokeAt(pub, at)
	}
	return ac
}

// OperatorJWT is the self-signed operator JWT of an embedded deployment, naming its system
// account.
func OperatorJWT(operator nkeys.KeyPair, systemAccount string) (string, error) {
	pub, err := operator.PublicKey()
	if err != nil {
		return "", err
	}
	oc := jwt.NewOperatorClaims(pub)
	oc.Name = "gaib"
	oc.SystemAccount = systemAccount
	return oc.Encode(operator)
}

// SystemAccountJWT is the system account's JWT, signed by the operator.
func SystemAccountJWT(operator, system nkeys.KeyPair) (string, error) {
	pub, err := system.PublicKey()
	if err != nil {
		return "", err
	}
	ac := jwt.NewAccountClaims(pub)
	ac.Name = "SYS"
	return ac.Encode(operator)
}

// SystemUser returns the .creds document of a user of the system account: what pushes
// account JWT updates to the servers.
func SystemUser(system nkeys.KeyPair) ([]byte, error) { return selfSigned(system, "gaib-system") }
