package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// Secret is the server secret every sandbox password is derived from. No password is
// stored: `connect` derives it again, and rotating the secret changes them all.
type Secret []byte

// Password derives the password of sandbox id on a plane ("postgres", "redis"):
// base64url(HMAC-SHA256(secret, plane ":" id)), 43 characters safe in URLs and in SQL and
// ACL literals.
func (s Secret) Password(plane, id string) string {
	m := hmac.New(sha256.New, s)
	m.Write([]byte(plane + ":" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
