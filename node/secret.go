package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/arrakis/gaib/auth"
	"github.com/arrakis/gaib/sandbox"
)

// loadSecret returns the configured secret (GAIB_SECRET), else the one in <dataDir>/secret,
// created on first start. Either must carry at least 32 random bytes: every sandbox
// password and NATS signing key is derived from it.
func loadSecret(configured, dataDir string) (sandbox.Secret, error) {
	if configured != "" {
		s, err := sandbox.ParseSecret(configured)
		if err != nil {
			return nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "GAIB_SECRET: %v", err)
		}
		return s, nil
	}
	file := filepath.Join(dataDir, "secret")
	b, err := os.ReadFile(file)
	switch {
	case err == nil:
		s, err := sandbox.ParseSecret(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return s, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("secret: %w", err)
	}
	s := sandbox.NewSecret()
	if err := auth.WritePrivate(file, append([]byte(s), '\n')); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return s, nil
}
