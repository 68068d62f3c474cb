package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure a managed redis-server.
type RedisOptions struct {
	// Dir holds the server. Dir and the files gaib keeps there (admin.password, port)
	// belong to gaib's user, and only it may write in Dir; Dir/data (the ACL file and the
	// RDB snapshot) belongs to the user redis-server runs as ("redis", else "nobody", when
	// gaib runs as root), who must be able to reach Dir.
	Dir string
	// Port to listen on (loopback only); 0 reuses the port of the last start when free.
	Port int
	// Ephemeral turns persistence off (tests).
	Ephemeral bool
	// Binary is the redis-server to run; default: found with RedisBinary.
	Binary string
	// MaxMemory caps the server's data (maxmemory, Redis units: "256mb"); default "256mb".
	MaxMemory string
	// MaxMemoryPolicy is what the server does at MaxMemory; default "noeviction": writes
	// fail with OOM. An evicting policy (allkeys-lru) would let one tenant's growth silently
	// delete the other tenants' keys; noeviction fails loudly and loses nothing.
	MaxMemoryPolicy string
}

// The managed redis-server's limits beyond maxmemory. Every tenant shares one server, so
// none may make it allocate without bound on its behalf.
const (
	// redisMaxBulk bounds one argument and one string (SETRANGE, APPEND): the default,
	// 512mb, lets one command allocate twice the default maxmemory at once.
	redisMaxBulk = "32mb"
	// redisQueryBuffer bounds what one client may have sent and not yet had executed.
	redisQueryBuffer = "64mb"
	// redisOutputBuffer disconnects a normal client that does not read its replies (hard
	// limit 64mb, or above 16mb for 60s); by default that memory is unbounded.
	redisOutputBuffer = "normal 64mb 16mb 60"
	// redisMaxMemoryClients bounds the buffers of all clients together (a quarter of
	// maxmemory); above it, the clients holding the most are disconnected (gaib's own
	// connections are CLIENT NO-EVICT). Client buffers count in used_memory, outside any
	// key: without it, one tenant's connections, each announcing a 32 MB argument (the
	// server allocates it on the header), hold gigabytes and fail every tenant's writes.
	redisMaxMemoryClients = "25%"
	// redisMaxClients is the server's maxclients (Redis' default, said explicitly): the
	// Redis plane admits as many sandboxes as fit under it at their client limit, less
	// what it reserves for gaib (keyspace.Redis.MaxSandboxes).
	redisMaxClients = "10000"
)

// DefaultRedisMaxMemory and DefaultRedisMaxMemoryPolicy are RedisOptions' defaults.
const (
	DefaultRedisMaxMemory       = "256mb"
	DefaultRedisMaxMemoryPolicy = "noeviction"
)

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

// RedisDir is where `gaib serve` keeps its managed redis-server for a data dir:
// <dataDir>/redis, unless redis-server must run as another user (gaib runs as root) who
// cannot reach the data dir; then /var/lib/gaib/redis-<hash>.
func RedisDir(dataDir string) string { return managedDir(dataDir, "redis", "redis", "nobody") }

// StartRedis starts redis-server on loopback, as an unprivileged user when gaib is root,
// with one database (so COPY … DB, MOVE and SELECT have nowhere to go), maxmemory, bounded
// buffers (each client's, and all clients' together), and an ACL file (so sandbox users survive restarts once saved) whose default
// user is the admin, password-protected.
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
	as, err := unprivileged("redis", "nobody")
	if err != nil {
		return nil, err
	}
	if o.MaxMemory == "" {
		o.MaxMemory = DefaultRedisMaxMemory
	}
	if o.MaxMemoryPolicy == "" {
		o.MaxMemoryPolicy = DefaultRedisMaxMemoryPolicy
	}
	data, err := redisFiles(o.Dir, as)
	if err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	pw, err := secretFile(filepath.Join(o.Dir, "admin.password"))
	if err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	aclFile := filepath.Join(data, "users.acl")
	if _, err := os.Lstat(aclFile); errors.Is(err, fs.ErrNotExist) {
		// The password is stored hashed: the file belongs to the server's user.
		sum := sha256.Sum256([]byte(pw))
		acl := "user default on #" + hex.EncodeToString(sum[:]) + " ~* &* +@all\n"
		if err := createFile(aclFile, []byte(acl), 0o600, as.owner); err != nil {
			return nil, fmt.Errorf("redis-server: %w", err)
		}
	}
	port := o.Port
	if port == 0 {
		if port, err = stablePort(filepath.Join(o.Dir, "port")); err != nil {
			return nil, fmt.Errorf("redis-server: %w", err)
		}
	}
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", data,
		"--aclfile", aclFile, "--daemonize", "no", "--logfile", "", "--loglevel", "warning",
		"--databases", "1", "--maxmemory", o.MaxMemory, "--maxmemory-policy", o.MaxMemoryPolicy,
		"--proto-max-bulk-len", redisMaxBulk, "--client-query-buffer-limit", redisQueryBuffer,
		"--client-output-buffer-limit", redisOutputBuffer, "--maxmemory-clients", redisMaxMemoryClients,
		"--maxclients", redisMaxClients,
		"--enable-debug-command", "no", "--enable-module-command", "no", "--enable-protected-configs", "no",
		// The process title would overwrite the environment's memory: keep it readable, so
		// /proc/<pid>/environ shows what the server really holds (see StartRedis' tests).
		"--set-proc-title", "no"}
	if o.Ephemeral {
		args = append(args, "--save", "", "--appendonly", "no")
	} else {
		args = append(args, "--save", "60 1")
	}
	proc, err := start(as.command(bin, args...))
	if err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	u := url.URL{Scheme: "redis", User: url.UserPassword("default", pw), Host: "127.0.0.1:" + strconv.Itoa(port)}
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

// redisFiles prepares dir and returns dir/data, the server's own directory. An earlier
// gaib kept the ACL file and the snapshot in dir itself, as root: they move to dir/data and
// are handed to the server's user.
func redisFiles(dir string, as runAs) (string, error) {
	if err := serverDir(dir, as); err != nil {
		return "", err
	}
	data := filepath.Join(dir, "data")
	if err := ownDir(data, 0o700, as.owner); err != nil {
		return "", err
	}
	for _, name := range []string{"users.acl", "dump.rdb"} {
		old := filepath.Join(dir, name)
		f, err := openNoFollow(old, os.O_RDONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		err = f.Chown(as.uid, as.gid)
		f.Close()
		if err != nil {
			return "", err
		}
		if err := os.Rename(old, filepath.Join(data, name)); err != nil {
			return "", err
		}
	}
	return data, nil
}

// URL is the admin's connection URL.
func (r *Redis) URL() string { return r.url }

// Stop shuts the server down and waits for it.
func (r *Redis) Stop() { r.proc.stop() }
