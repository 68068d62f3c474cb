package node

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/arrakis/gaib/sandbox"
)

// loadSecret returns the configured secret, else the secret in <dataDir>/secret, created on
// first start.
func loadSecret(configured, dataDir string) (sandbox.Secret, error) {
	if configured != "" {
		return sandbox.Secret(configured), nil
	}
	file := filepath.Join(dataDir, "secret")
	if b, err := os.ReadFile(file); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return sandbox.Secret(strings.TrimSpace(string(b))), nil
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	s := hex.EncodeToString(raw[:])
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(s + "\n"); err != nil {
		return nil, err
	}
	return sandbox.Secret(s), nil
}
