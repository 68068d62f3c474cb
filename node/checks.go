package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// lockFile is the file in the data dir a running serve holds an exclusive lock on.
const lockFile = "serve.lock"

// preflight checks, before anything starts, what would otherwise fail late or obscurely:
// another serve holding the data dir (its Postgres would refuse the second with a lock
// message), and the embedded NATS and metrics ports being taken (the server would wait
// 15s). Each failure names the flag to change. The returned release drops the data dir's
// lock; it must be held for as long as serve runs.
func (c *Config) preflight() (func(), error) {
	release, err := lockDataDir(c.DataDir)
	if err != nil {
		return nil, err
	}
	if c.NATSURL == "" {
		if err := portFree(c.Listen, "--listen", "GAIB_LISTEN", "127.0.0.1:0 for any free port"); err != nil {
			release()
			return nil, err
		}
	}
	if c.MetricsListen != "" {
		if err := portFree(c.MetricsListen, "--metrics-listen", "GAIB_METRICS_LISTEN", "'' to serve no metrics"); err != nil {
			release()
			return nil, err
		}
	}
	// Say who holds the data dir, for the next serve's message.
	if f, err := os.OpenFile(filepath.Join(c.DataDir, lockFile), os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
		fmt.Fprintf(f, "pid %d, NATS on %s\n", os.Getpid(), c.listenNote())
		_ = f.Close()
	}
	return release, nil
}

func (c *Config) listenNote() string {
	if c.NATSURL != "" {
		return c.NATSURL
	}
	return c.Listen
}

// lockDataDir takes an exclusive lock on <dir>/serve.lock, or says who holds it. The lock
// goes with the process, however it ends.
func lockDataDir(dir string) (func(), error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--data-dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := ""
			if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
				holder = " (" + strings.TrimSpace(string(b)) + ")"
			}
			return nil, fmt.Errorf("--data-dir %s is in use by another gaib serve%s: stop that one, or give this one its own with --data-dir (or GAIB_DATA_DIR)", dir, holder)
		}
		return nil, fmt.Errorf("--data-dir %s: lock %s: %w", dir, path, err)
	}
	return func() { _ = f.Close() }, nil
}

// portFree fails when addr cannot be listened on, naming the flag and its variable.
func portFree(addr, flag, env, hint string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err
		}
		return fmt.Errorf("%s %s: %w: another gaib serve or another server listens there; choose another address with %s (or %s), or %s",
			flag, addr, err, flag, env, hint)
	}
	return l.Close()
}
