package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nkeys"
)

// Keys are the identity keys of a deployment gaib created itself (embedded mode).
type Keys struct {
	// Operator signs the accounts.
	Operator nkeys.KeyPair
	// System is the system account: it pushes account updates to the servers.
	System nkeys.KeyPair
	// Account is the gaib account, where every gaib subject, stream and bucket lives.
	Account nkeys.KeyPair
}

// LoadOrCreateKeys reads the keys kept in dir, creating the missing ones. dir is created
// 0700 and must belong to this user; each key file is 0600.
func LoadOrCreateKeys(dir string) (*Keys, error) {
	if err := ensurePrivateDir(dir); err != nil {
		return nil, err
	}
	var k Keys
	for _, f := range []struct {
		file   string
		prefix nkeys.PrefixByte
		dst    *nkeys.KeyPair
	}{
		{"operator.nk", nkeys.PrefixByteOperator, &k.Operator},
		{"system.nk", nkeys.PrefixByteAccount, &k.System},
		{"account.nk", nkeys.PrefixByteAccount, &k.Account},
	} {
		kp, err := loadOrCreateKey(filepath.Join(dir, f.file), f.prefix)
		if err != nil {
			return nil, err
		}
		*f.dst = kp
	}
	return &k, nil
}

func loadOrCreateKey(path string, prefix nkeys.PrefixByte) (nkeys.KeyPair, error) {
	b, err := readPrivate(path)
	if errors.Is(err, os.ErrNotExist) {
		kp, err := nkeys.CreatePair(prefix)
		if err != nil {
			return nil, err
		}
		seed, _ := kp.Seed()
		if err := WritePrivate(path, append(seed, '\n')); err != nil {
			return nil, err
		}
		return kp, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseSeed(b, prefix)
}

// ParseSeed reads an nkey seed (alone, or decorated as in a .creds or .nk file) and checks
// that it is of the expected kind.
func ParseSeed(b []byte, prefix nkeys.PrefixByte) (nkeys.KeyPair, error) {
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return nil, fmt.Errorf("not an nkey seed: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, err
	}
	got, _, err := nkeys.DecodeSeed(seed)
	if err != nil {
		return nil, err
	}
	if got != prefix {
		return nil, fmt.Errorf("seed is a %s key, want a %s key", got, prefix)
	}
	return kp, nil
}

// ReadSeedFile reads a seed file of the expected kind (an operator signing key, say).
func ReadSeedFile(path string, prefix nkeys.PrefixByte) (nkeys.KeyPair, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	kp, err := ParseSeed(b, prefix)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kp, nil
}
