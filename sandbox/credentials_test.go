package sandbox_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/arrakis/gaib/sandbox"
)

func TestParseSecretRefusesWeakSecrets(t *testing.T) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	for _, weak := range []string{
		"", "x", "secret", "correct horse battery staple", strings.Repeat("a", 64), strings.Repeat("0123456789abcdef", 4),
		hex.EncodeToString(raw)[:62],                      // 31 bytes
		base64.StdEncoding.EncodeToString(raw[:31]),       // 31 bytes
		strings.Repeat("Zm9vYmFy", 6),                     // base64 of "foobar" repeated
		"sandbox-secret-that-is-long-but-just-words-1234", // long, but not random bytes
	} {
		_, err := sandbox.ParseSecret(weak)
		if !errors.Is(err, &sandbox.Error{Code: sandbox.CodeInvalidRequest}) || !strings.Contains(err.Error(), "openssl rand -hex 32") {
			t.Errorf("ParseSecret(%q) = %v", weak, err)
		}
	}
	for _, good := range []string{
		hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)), " " + hex.EncodeToString(raw) + "\n",
		base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
		string(sandbox.NewSecret()),
	} {
		s, err := sandbox.ParseSecret(good)
		if err != nil {
			t.Errorf("ParseSecret(%q) = %v", good, err)
			continue
		}
		// The secret is the text: passwords derived from it never change.
		if s.Password("postgres", "abcdefghij") != sandbox.Secret(strings.TrimSpace(good)).Password("postgres", "abcdefghij") {
			t.Errorf("ParseSecret(%q) changed the derived passwords", good)
		}
	}
	a, b := sandbox.NewSecret(), sandbox.NewSecret()
	if len(a) != 64 || string(a) == string(b) {
		t.Fatalf("NewSecret: %q, %q", a, b)
	}
}
