package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/arrakis/gaib/sandbox"
)

// Issuer mints credentials of the gaib account. Its role signing keys and the sandboxes'
// user keys are derived from the mesh secret, so every instance with the same secret signs
// alike and nothing needs storing: a sandbox's key is known from its id alone, which is
// how destroy revokes it.
type Issuer struct {
	account string
	secret  sandbox.Secret
	roles   map[string]nkeys.KeyPair
	// exports signs the activation tokens of the sandbox accounts' imports: a signing key of
	// the gaib account (not scoped: it signs no users).
	exports nkeys.KeyPair
}

// NewIssuer returns an issuer for the account whose public key is account.
func NewIssuer(account string, secret sandbox.Secret) (*Issuer, error) {
	if !nkeys.IsValidPublicAccountKey(account) {
		return nil, fmt.Errorf("%q is not an account public key", account)
	}
	is := &Issuer{account: account, secret: secret, roles: map[string]nkeys.KeyPair{}}
	for _, r := range signingRoles {
		kp, err := is.derive(nkeys.PrefixByteAccount, "nats-signing-key:"+r)
		if err != nil {
			return nil, err
		}
		is.roles[r] = kp
	}
	kp, err := is.derive(nkeys.PrefixByteAccount, "nats-signing-key:exports")
	if err != nil {
		return nil, err
	}
	is.exports = kp
	return is, nil
}

// ExportsKey is the public key of the gaib account's signing key for activation tokens.
func (is *Issuer) ExportsKey() string {
	pub, _ := is.exports.PublicKey()
	return pub
}

func (is *Issuer) derive(prefix nkeys.PrefixByte, label string) (nkeys.KeyPair, error) {
	m := hmac.New(sha256.New, is.secret)
	m.Write([]byte(label))
	return nkeys.FromRawSeed(prefix, m.Sum(nil))
}

// Account is the account's public key.
func (is *Issuer) Account() string { return is.account }

// Scopes returns the role signing keys with their permission templates, for the account JWT.
func (is *Issuer) Scopes() []*jwt.UserScope {
	out := make([]*jwt.UserScope, 0, len(signingRoles))
	for _, r := range signingRoles {
		pub, _ := is.roles[r].PublicKey()
		out = append(out, scope(r, pub))
	}
	return out
}

// Identity signs a user JWT for identity name with role for the user key pub. A zero
// expires never expires.
func (is *Issuer) Identity(name string, role sandbox.Role, pub string, expires time.Time) (string, error) {
	if err := sandbox.ValidateIdentity(name); err != nil {
		return "", err
	}
	if !sandbox.ValidRole(string(role)) {
		return "", sandbox.Errorf(sandbox.CodeInvalidRequest, "unknown role %q", role)
	}
	return is.sign(is.roles[string(role)], name, pub, expires)
}

// NewIdentity creates a key pair for identity name and returns its .creds document and
// public key.
func (is *Issuer) NewIdentity(name string, role sandbox.Role, expires time.Time) (creds []byte, pub string, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, "", err
	}
	pub, _ = kp.PublicKey()
	token, err := is.Identity(name, role, pub, expires)
	if err != nil {
		return nil, "", err
	}
	seed, _ := kp.Seed()
	creds, err = jwt.FormatUserConfig(token, seed)
	return creds, pub, err
}

// SandboxKey is the user key of sandbox id's credentials.
func (is *Issuer) SandboxKey(id string) (string, error) {
	kp, err := is.sandboxPair(id)
	if err != nil {
		return "", err
	}
	return kp.PublicKey()
}

func (is *Issuer) sandboxPair(id string) (nkeys.KeyPair, error) {
	// The id goes into permissions as one subject token: anything else could widen what
	// the credential may touch.
	if !sandbox.ValidID(id) {
		return nil, sandbox.Errorf(sandbox.CodeInvalidID, "%q is not a sandbox id", id)
	}
	return is.derive(nkeys.PrefixByteUser, "nats-sandbox:"+id)
}

// Sandbox returns the .creds document of sandbox id, valid until expires (the sandbox's
// expiry): a user of the sandbox's own account (SandboxAccountClaims), signed by that
// account's key, allowed its namespace, its inbox and the JetStream subjects its account
// imports.
func (is *Issuer) Sandbox(id string, expires time.Time) ([]byte, error) {
	kp, err := is.sandboxPair(id)
	if err != nil {
		return nil, err
	}
	account, err := is.sandboxAccountPair(id)
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	uc := jwt.NewUserClaims(pub)
	uc.Name = id
	uc.Pub.Allow.Add(sandbox.WorkerPublish(id)...)
	uc.Sub.Allow.Add(sandbox.WorkerSubscribe(id)...)
	uc.Limits.Subs = sandboxMaxSubs
	uc.Limits.Payload = sandboxMaxPayload
	if !expires.IsZero() {
		uc.Expires = expires.Unix()
	}
	token, err := uc.Encode(account)
	if err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	return jwt.FormatUserConfig(token, seed)
}

func (is *Issuer) sign(signer nkeys.KeyPair, name, pub string, expires time.Time) (string, error) {
	uc := jwt.NewUserClaims(pub)
	// A scoped signer's users carry no permissions or limits: the scope's template is theirs.
	uc.UserPermissionLimits = jwt.UserPermissionLimits{}
	uc.Name = name
	uc.IssuerAccount = is.account
	if !expires.IsZero() {
		uc.Expires = expires.Unix()
	}
	return uc.Encode(signer)
}

// Responder returns a .creds document for the connection the mesh's micro services answer
// on (RoleResponder), with a fresh key: it only receives requests and answers into inboxes.
func (is *Issuer) Responder(name string) ([]byte, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	token, err := is.sign(is.roles[RoleResponder], name, pub, time.Time{})
	if err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	return jwt.FormatUserConfig(token, seed)
}

// Unrestricted returns the .creds document of a user of the account with no permission
// limits, signed by the account key itself: the mesh's own credential.
func Unrestricted(account nkeys.KeyPair, name string) ([]byte, error) {
	return selfSigned(account, name)
}

func selfSigned(account nkeys.KeyPair, name string) ([]byte, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	uc := jwt.NewUserClaims(pub)
	uc.Name = name
	token, err := uc.Encode(account)
	if err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	return jwt.FormatUserConfig(token, seed)
}

// CredsPublicKey returns the user public key of a .creds document.
func CredsPublicKey(creds []byte) (string, error) {
	token, err := jwt.ParseDecoratedJWT(creds)
	if err != nil {
		return "", err
	}
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return "", err
	}
	return uc.Subject, nil
}
