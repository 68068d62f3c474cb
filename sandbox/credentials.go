package sandbox

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
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

// SecretBytes is the least number of random bytes a secret must encode: whoever guesses
// the secret holds every sandbox's passwords.
const SecretBytes = 32

// minDistinctBytes is how many different byte values the decoded secret must have: 32
// random bytes have about 30; "aaaa…" or a short pattern repeated has a handful.
const minDistinctBytes = 16

// NewSecret returns a fresh secret: SecretBytes random bytes in hex (64 characters).
func NewSecret() Secret {
	b := make([]byte, SecretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return Secret(hex.EncodeToString(b))
}

// ParseSecret accepts a secret (GAIB_SECRET, the secret file) that encodes at least
// SecretBytes random bytes: 64 or more hex digits, or base64 (standard or URL alphabet,
// padded or not) of 32 or more bytes, surrounding spaces ignored. Anything shorter, in
// another form, or visibly not random is refused with CodeInvalidRequest and a message
// saying how to make one. Entropy cannot be measured from one string; "visibly" means: too
// few distinct bytes (a repeated pattern), or base64 text without both upper and lower case
// letters (words joined by dashes are valid base64url; random base64 of 32 bytes lacks a
// case with a probability of about 1e-10). The secret is the text itself (not its decoded
// bytes), so passwords derived from an accepted secret never change.
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimSpace(s)
	raw, ok := decodeSecret(s)
	if !ok || len(raw) < SecretBytes {
		return nil, Errorf(CodeInvalidRequest, "the secret (GAIB_SECRET) must be at least %d random bytes written as 64+ hex digits or base64 (it has %d characters): generate one with `openssl rand -hex %d`", SecretBytes, len(s), SecretBytes)
	}
	seen := map[byte]bool{}
	for _, b := range raw {
		seen[b] = true
	}
	if len(seen) < minDistinctBytes {
		return nil, Errorf(CodeInvalidRequest, "the secret (GAIB_SECRET) is not random (%d distinct bytes in %d): generate one with `openssl rand -hex %d`", len(seen), len(raw), SecretBytes)
	}
	return Secret(s), nil
}

// decodeSecret decodes s as hex, else as base64 in any of its four forms when it mixes
// cases.
func decodeSecret(s string) ([]byte, bool) {
	if b, err := hex.DecodeString(s); err == nil {
		return b, true
	}
	if !strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") || !strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") {
		return nil, false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// Fingerprint identifies the secret without revealing it: every instance of a mesh must
// have the same one (they derive the same passwords and NATS keys from it).
func (s Secret) Fingerprint() string {
	m := hmac.New(sha256.New, s)
	m.Write([]byte("gaib-secret-fingerprint"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:16]
}
