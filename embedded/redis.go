package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure a managed redis-server.
type RedisOptions struct {
	// Dir holds the ACL file, the RDB snapshot and the admin password.
	Dir string
	// Port to listen on (loopback only); 0 reuses the port of the last start when free.
	Port int
	// Ephemeral turns persistence off (tests).
	Ephemeral bool
	// Binary is the redis-server to run; default: found with RedisBinary.
	Binary string
}

// Redis is a running managed redis-server.
type Redis struct {
	proc *process
	url  string
}

// RedisBinary returns the installed redis-server, or ErrNotInstalled.
func RedisBinary() (string, error) {
	p, err := findBinary("/usr/bin/redis-server", "/usr/local/bin/redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server: %w (install Debian's redis-server package)", err)
	}
	return p, nil
}

// StartRedis starts redis-server on loopback with an ACL file in o.Dir (so sandbox users
// survive restarts once saved) whose default user is the admin, password-protected.
func StartRedis(o RedisOptions) (*Redis, error) {
	bin := o.Binary
	if bin == "" {
		var err error
		if bin, err = RedisBinary(); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("redis-server %s: %w (install Debian's redis-server package)", bin, ErrNotInstalled)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	pwFile, aclFile := filepath.Join(o.Dir, "admin.password"), filepath.Join(o.Dir, "users.acl")
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		var raw [18]byte
		_, _ = rand.Read(raw[:])
		pw = []byte(hex.EncodeToString(raw[:]))
		if err := os.WriteFile(pwFile, pw, 0o600); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(aclFile); err != nil {
		if err := os.WriteFile(aclFile, []byte("user default on >"+string(pw)+" ~* &* +@all\n"), 0o600); err != nil {
			return nil, err
		}
	}
	port := o.Port
	if port == 0 {
		if port, err = stablePort(filepath.Join(o.Dir, "port")); err != nil {
			return nil, err
		}
	}
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", o.Dir,
		"--aclfile", aclFile, "--daemonize", "no", "--logfile", "", "--loglevel", "warning"}
	if o.Ephemeral {
		args = append(args, "--save", "", "--appendonly", "no")
	} else {
		args = append(args, "--save", "60 1")
	}
	as := runAs{} // redis-server runs as the current user, root included
	proc, err := start(as.command(bin, args...))
	if err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	u := url.URL{Scheme: "redis", User: url.UserPassword("default", string(pw)), Host: "127.0.0.1:" + strconv.Itoa(port)}
	r := &Redis{proc: proc, url: u.String()}
	err = proc.waitReady(30*time.Second, func(ctx context.Context) error {
		opt, err := redis.ParseURL(r.url)
		if err != nil {
			return err
		}
		c := redis.NewClient(opt)
		defer c.Close()
		return c.Ping(ctx).Err()
	})
	if err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	return r, nil
}

// URL is the admin's connection URL.
func (r *Redis) URL() string { return r.url }

// Stop shuts the server down and waits for it.
func (r *Redis) Stop() { r.proc.stop() }
