package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/arrakis/gaib/auth"
	"github.com/arrakis/gaib/embedded"
	gjs "github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// identityPlane is this process's part of NATS decentralized auth: the issuer of
// credentials, what the mesh connects with, and what pushes the account JWT.
type identityPlane struct {
	issuer *auth.Issuer
	// mesh and system are connect options of the mesh's own credential and of a system
	// account user.
	mesh, system []nats.Option
	// signer signs the account JWT (the operator key, or an operator signing key).
	signer nkeys.KeyPair
	limits auth.AccountLimits
	// onPush keeps a pushed account JWT (embedded only).
	onPush func(account, token string)
}

// accountLimits are the gaib account's limits: every stream and bucket has its own byte
// limit, so the account-wide ones stay open.
var accountLimits = auth.AccountLimits{MaxStore: -1, MaxMemory: -1, MaxConnections: -1}

// embeddedIdentity prepares operator-mode auth for the embedded server: the keys under
// <data>/auth (created on first start), the JWTs the server trusts, the mesh credential.
func embeddedIdentity(dataDir string, secret sandbox.Secret) (*identityPlane, *embedded.OperatorAuth, error) {
	dir := filepath.Join(dataDir, "auth")
	l, err := auth.NewLocal(dir, secret)
	if err != nil {
		return nil, nil, fmt.Errorf("auth keys: %w", err)
	}
	// Start from the last JWT pushed (it carries the revocations) until the mesh pushes a
	// fresh one built from the revocation list in KV.
	accJWT := ""
	jwtFile := filepath.Join(dir, "account.jwt")
	if b, err := os.ReadFile(jwtFile); err == nil {
		if ac, err := jwt.DecodeAccountClaims(string(b)); err == nil && ac.Subject == l.Account {
			accJWT = string(b)
		}
	}
	if accJWT == "" {
		if accJWT, err = l.AccountJWT(accountLimits); err != nil {
			return nil, nil, err
		}
	}
	meshCreds, err := loadOrMint(filepath.Join(dir, "mesh.creds"), l.MeshCreds)
	if err != nil {
		return nil, nil, err
	}
	sysCreds, err := l.SystemCreds()
	if err != nil {
		return nil, nil, err
	}
	meshOpt, err := auth.ConnectOption(meshCreds)
	if err != nil {
		return nil, nil, err
	}
	sysOpt, err := auth.ConnectOption(sysCreds)
	if err != nil {
		return nil, nil, err
	}
	ip := &identityPlane{
		issuer: l.Issuer, signer: l.Keys.Operator, limits: accountLimits,
		mesh: []nats.Option{meshOpt}, system: []nats.Option{sysOpt},
		onPush: func(account, token string) {
			if account == l.Account {
				_ = auth.WritePrivate(jwtFile, []byte(token))
			}
		},
	}
	// The accounts live in a directory under the auth dir, as with a production server's
	// full resolver: the sandboxes' accounts, pushed as they are created, survive restarts.
	return ip, &embedded.OperatorAuth{Operator: l.OperatorJWT, SystemAccount: l.SystemAccount, Accounts: l.Accounts(accJWT),
		ResolverDir: filepath.Join(dir, "accounts")}, nil
}

// externalIdentity is auth against an existing operator-mode NATS: the mesh's credential
// names the gaib account; an operator signing key and a system account user let the mesh
// register its role signing keys and push revocations.
func externalIdentity(c *Config, secret sandbox.Secret) (*identityPlane, error) {
	if c.Creds == "" || c.OperatorSigningKey == "" || c.SystemCreds == "" {
		return nil, sandbox.Errorf(sandbox.CodeInvalidRequest,
			"against an existing NATS, serve needs --creds (the mesh's credential in the gaib account), --operator-signing-key and --system-creds (see README: Running against your NATS)")
	}
	b, err := os.ReadFile(c.Creds)
	if err != nil {
		return nil, fmt.Errorf("--creds: %w", err)
	}
	token, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return nil, fmt.Errorf("--creds %s: %w", c.Creds, err)
	}
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return nil, fmt.Errorf("--creds %s: %w", c.Creds, err)
	}
	account := uc.IssuerAccount
	if account == "" {
		account = uc.Issuer
	}
	is, err := auth.NewIssuer(account, secret)
	if err != nil {
		return nil, fmt.Errorf("--creds %s: %w", c.Creds, err)
	}
	signer, err := auth.ReadSeedFile(c.OperatorSigningKey, nkeys.PrefixByteOperator)
	if err != nil {
		return nil, fmt.Errorf("--operator-signing-key: %w", err)
	}
	return &identityPlane{
		issuer: is, signer: signer, limits: accountLimits,
		mesh: []nats.Option{nats.UserCredentials(c.Creds)}, system: []nats.Option{nats.UserCredentials(c.SystemCreds)},
	}, nil
}

// publisher connects the system user and returns what keeps the account JWT in step with
// the revocation list, after a first push (which also registers the role signing keys).
func (ip *identityPlane) publisher(ctx context.Context, url string, source auth.Revocations, log *slog.Logger) (*auth.Publisher, func(), error) {
	sys, err := nats.Connect(url, append(ip.system, nats.Name("gaib-system"), nats.MaxReconnects(-1))...)
	if err != nil {
		return nil, nil, sandbox.Errorf(sandbox.CodeUnavailable, "system account connection to %s: %v", url, err)
	}
	p := auth.NewPublisher(auth.PublisherConfig{Issuer: ip.issuer, Limits: ip.limits, Signer: ip.signer,
		System: sys, Source: source, Log: log, OnPush: ip.onPush})
	if err := p.Sync(ctx); err != nil {
		sys.Close()
		return nil, nil, err
	}
	return p, sys.Close, nil
}

// localAdmin makes sure the user running serve has an admin identity and its credential at
// path, so that the CLI on this machine works without configuration. An identity that an
// admin revoked is left revoked.
func (ip *identityPlane) localAdmin(ctx context.Context, store *gjs.Store, path string) (string, error) {
	login := os.Getenv("USER")
	if u, err := user.Current(); login == "" && err == nil {
		login = u.Username
	}
	name := sandbox.FoldIdentity(login)
	u, err := store.User(ctx, name)
	switch {
	case errors.Is(err, sandbox.ErrNotFound):
	case err != nil:
		return "", err
	case !u.Active():
		return "", fmt.Errorf("the local admin identity %q was revoked; not writing %s", name, path)
	case u.Role != sandbox.RoleAdmin:
		return "", fmt.Errorf("identity %q exists as a %s, not an admin; not writing %s", name, u.Role, path)
	default:
		if b, err := os.ReadFile(path); err == nil {
			if pub, err := auth.CredsPublicKey(b); err == nil && slices.Contains(u.Keys, pub) {
				return name, nil // the credential on disk is still this identity's
			}
		}
	}
	creds, pub, err := ip.issuer.NewIdentity(name, sandbox.RoleAdmin, time.Time{})
	if err != nil {
		return "", err
	}
	if u.Name == "" {
		err = store.CreateUser(ctx, sandbox.User{Name: name, Role: sandbox.RoleAdmin, Keys: []string{pub},
			CreatedAt: time.Now().UTC(), CreatedBy: sandbox.ActorMesh})
	} else {
		_, err = store.UpdateUser(ctx, name, func(u *sandbox.User) error { u.Keys = append(u.Keys, pub); return nil })
	}
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	return name, auth.WritePrivate(path, creds)
}

// loadOrMint reads a credential kept at path, or mints one and keeps it there (0600).
func loadOrMint(path string, mint func() ([]byte, error)) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		if _, err := auth.CredsPublicKey(b); err == nil {
			return b, nil
		}
	}
	b, err := mint()
	if err != nil {
		return nil, err
	}
	return b, auth.WritePrivate(path, b)
}
