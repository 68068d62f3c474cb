package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Operation names of the user service's bearer-token endpoints (gaib.user.<op>.<caller>).
const (
	// OpTokenIssue issues a bearer token for an identity (admins).
	OpTokenIssue = "token"
	// OpTokenList lists an identity's tokens, never their secrets (admins).
	OpTokenList = "tokens"
	// OpTokenRevoke revokes one token (admins).
	OpTokenRevoke = "token-revoke"
	// OpAuthenticate turns a bearer token into the identity it was issued to. Only the mesh
	// (caller ActorMesh) may ask: the REST API asks before it calls the services as that
	// identity.
	OpAuthenticate = "authenticate"
)

// BucketTokens holds bearer tokens by id: who they act as and a hash of their secret.
const BucketTokens = "gaib_tokens"

// TokenPrefix starts every bearer token, so that a leaked one is recognisable (secret
// scanners, logs): gaib_<id>_<secret>.
const TokenPrefix = "gaib_"

const (
	tokenIDLen     = 12
	tokenSecretLen = 64 // hex of 32 random bytes
)

// Token is one bearer token as gaib keeps it: never its secret, only Hash, which services
// compare in constant time. Answers to clients carry no Hash.
type Token struct {
	ID       string `json:"id"`
	Identity string `json:"identity"`
	// IdentityCreated binds the token to one incarnation of the identity: an identity that
	// is revoked and issued again under the same name does not revive its old tokens.
	IdentityCreated time.Time `json:"identity_created"`
	Hash            string    `json:"hash,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	CreatedBy       string    `json:"created_by"`
	// Expires is when the token stops working (zero: never).
	Expires time.Time `json:"expires,omitzero"`
	Note    string    `json:"note,omitempty"`
}

// Public returns the token without its hash, as answers show it.
func (t Token) Public() Token {
	t.Hash = ""
	return t
}

// Expired reports whether the token's lifetime has run out at now.
func (t Token) Expired(now time.Time) bool { return !t.Expires.IsZero() && !t.Expires.After(now) }

// NewToken draws a bearer token: its id (12 characters of [a-z0-9], starting with a
// letter), its secret (32 random bytes, hex) and the token a client sends.
func NewToken() (id, secret, token string) {
	id = randomString(tokenIDLen, idLetters, idAlphabet)
	b := make([]byte, tokenSecretLen/2)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	secret = hex.EncodeToString(b)
	return id, secret, TokenPrefix + id + "_" + secret
}

// ParseToken splits a bearer token into its id and secret. Anything but the exact shape
// gaib_<id>_<secret> is refused as unauthenticated, without echoing it.
func ParseToken(token string) (id, secret string, err error) {
	bad := Errorf(CodeUnauthenticated, "the bearer token is not a gaib token (gaib_<id>_<secret>)")
	if len(token) != len(TokenPrefix)+tokenIDLen+1+tokenSecretLen || token[:len(TokenPrefix)] != TokenPrefix {
		return "", "", bad
	}
	id, secret = token[len(TokenPrefix):len(TokenPrefix)+tokenIDLen], token[len(TokenPrefix)+tokenIDLen+1:]
	if token[len(TokenPrefix)+tokenIDLen] != '_' || !ValidTokenID(id) {
		return "", "", bad
	}
	for i := 0; i < len(secret); i++ {
		if c := secret[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", "", bad
		}
	}
	return id, secret, nil
}

// ValidTokenID reports whether s has the shape of a token id.
func ValidTokenID(s string) bool {
	if len(s) != tokenIDLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLowerAlnum(s[i]) {
			return false
		}
	}
	return true
}

// TokenHash is what gaib stores of a token's secret: SHA-256 over the id and the secret
// (the secret has 256 random bits, so no slow hash is needed; the id binds the hash to
// its token).
func TokenHash(id, secret string) string {
	sum := sha256.Sum256([]byte("gaib-token\x00" + id + "\x00" + secret))
	return hex.EncodeToString(sum[:])
}

// TokenIssueRequest asks for a bearer token for identity Name (admins only). TTL (e.g.
// "90d") bounds its life, empty for no expiry; Note says what it is for.
type TokenIssueRequest struct {
	Name string `json:"name"`
	TTL  string `json:"ttl,omitempty"`
	Note string `json:"note,omitempty"`
}

// TokenIssueResponse is the new token: Token is sent once and stored nowhere.
type TokenIssueResponse struct {
	Info  Token  `json:"info"`
	Token string `json:"token"`
}

// TokenRevokeRequest names one token of an identity.
type TokenRevokeRequest struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// AuthenticateRequest carries a bearer token to verify.
type AuthenticateRequest struct {
	Token string `json:"token"`
}

// AuthenticateResponse is the identity a valid token acts as.
type AuthenticateResponse struct {
	Name    string `json:"name"`
	Role    Role   `json:"role"`
	TokenID string `json:"token_id"`
}
