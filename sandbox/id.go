package sandbox

import (
	"crypto/rand"
)

const (
	idLen      = 10
	idLetters  = "abcdefghijklmnopqrstuvwxyz"
	idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// NewID returns a random sandbox id: 10 characters of [a-z0-9] starting with a letter, safe
// as a NATS token, inside a quoted or unquoted Postgres identifier and in a Redis key.
func NewID() string {
	return randomString(idLen, idLetters, idAlphabet)
}

// ValidID reports whether s has the shape of a sandbox id.
func ValidID(s string) bool {
	if len(s) != idLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLowerAlnum(s[i]) {
			return false
		}
	}
	return true
}

// randomString draws n characters, the first from first and the rest from rest, without
// modulo bias.
func randomString(n int, first, rest string) string {
	out := make([]byte, n)
	buf := make([]byte, 1)
	for i := range out {
		set := rest
		if i == 0 {
			set = first
		}
		limit := 256 - 256%len(set)
		for {
			_, _ = rand.Read(buf) // crypto/rand.Read never fails on supported platforms
			if int(buf[0]) < limit {
				out[i] = set[int(buf[0])%len(set)]
				break
			}
		}
	}
	return string(out)
}

func isLowerAlnum(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') }
