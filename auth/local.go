package auth

import (
	"github.com/arrakis/gaib/sandbox"
)

// Local is a deployment whose operator gaib holds itself (the embedded server of `gaib
// serve`, and tests): its keys, its issuer and the JWTs the server must trust.
type Local struct {
	Keys   *Keys
	Issuer *Issuer
	// OperatorJWT is the self-signed operator; SystemJWT the system account's JWT.
	OperatorJWT, SystemJWT string
	// SystemAccount and Account are the public keys of the system and gaib accounts.
	SystemAccount, Account string
}

// NewLocal loads (or creates) the keys kept in dir and prepares the deployment's JWTs.
func NewLocal(dir string, secret sandbox.Secret) (*Local, error) {
	keys, err := LoadOrCreateKeys(dir)
	if err != nil {
		return nil, err
	}
	l := &Local{Keys: keys}
	l.Account, _ = keys.Account.PublicKey()
	l.SystemAccount, _ = keys.System.PublicKey()
	if l.Issuer, err = NewIssuer(l.Account, secret); err != nil {
		return nil, err
	}
	if l.OperatorJWT, err = OperatorJWT(keys.Operator, l.SystemAccount); err != nil {
		return nil, err
	}
	if l.SystemJWT, err = SystemAccountJWT(keys.Operator, keys.System); err != nil {
		return nil, err
	}
	return l, nil
}

// AccountJWT is a fresh gaib account JWT without revocations, for a first start.
func (l *Local) AccountJWT(lim AccountLimits) (string, error) {
	return AccountClaims(l.Issuer, lim, nil).Encode(l.Keys.Operator)
}

// Accounts are the account JWTs a server starts with: the system account and the gaib
// account (accountJWT).
func (l *Local) Accounts(accountJWT string) map[string]string {
	return map[string]string{l.SystemAccount: l.SystemJWT, l.Account: accountJWT}
}

// MeshCreds mints a credential of the mesh itself (no permission limits).
func (l *Local) MeshCreds() ([]byte, error) { return Unrestricted(l.Keys.Account, "gaib-mesh") }

// SystemCreds mints a system account user's credential.
func (l *Local) SystemCreds() ([]byte, error) { return SystemUser(l.Keys.System) }
