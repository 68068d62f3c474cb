package embedded_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/arrakis/gaib/embedded"
	"github.com/arrakis/gaib/embedded/embeddedtest"
)

// These tests attack the host from the users the managed servers run as: whoever holds
// the postgres or redis user (a tenant that became the Postgres superuser, an exploit in
// redis-server) may plant links and files in what that user owns, and may read its
// processes' environment. When the tests run as root (as `gaib serve` does) the servers
// run as those users and the planted files belong to them.

// secrets is gaib's environment that no server may inherit.
var secrets = map[string]string{
	"GAIB_SECRET":  "gaib-secret-" + strconv.Itoa(os.Getpid()),
	"DATABASE_URL": "postgres://admin:db-secret@127.0.0.1/x",
	"REDIS_URL":    "redis://default:redis-secret@127.0.0.1:1",
	"NATS_URL":     "nats://nats-secret@127.0.0.1:1",
	"NATS_CREDS":   "/nats/secret.creds",
}

func setSecrets(t *testing.T) {
	for k, v := range secrets {
		t.Setenv(k, v)
	}
}

// serverUser is who a server runs as: names[0] (else names[1]) when we are root, else us.
func serverUser(t *testing.T, names ...string) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, n := range names {
		if u, err := user.Lookup(n); err == nil {
			return u
		}
	}
	t.Fatalf("none of %v exists", names)
	return nil
}

// assertCleanProcess checks that pid runs as u with nothing of gaib's environment.
func assertCleanProcess(t *testing.T, pid int, u *user.User) {
	t.Helper()
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.Split(strings.TrimRight(string(env), "\x00"), "\x00")
	for _, v := range vars {
		name, _, _ := strings.Cut(v, "=")
		if _, ok := secrets[name]; ok || strings.HasPrefix(name, "GAIB_") || strings.HasPrefix(name, "NATS_") || strings.HasPrefix(name, "PG") {
			t.Errorf("pid %d inherited %s", pid, name)
		}
	}
	for _, s := range secrets {
		if bytes.Contains(env, []byte(s)) {
			t.Errorf("pid %d has a secret in its environment: %q", pid, vars)
		}
	}
	if !strings.Contains("\x00"+string(env), "\x00HOME="+u.HomeDir+"\x00") {
		t.Errorf("pid %d: HOME is not %s: %q", pid, u.HomeDir, vars)
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "\nUid:\t"+u.Uid+"\t") {
		t.Errorf("pid %d does not run as %s (uid %s)", pid, u.Username, u.Uid)
	}
}

// assertOwned checks path's type, owner and mode, without following a link.
func assertOwned(t *testing.T, path string, dir bool, uid string, perm fs.FileMode) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	got := strconv.Itoa(int(st.Sys().(*syscall.Stat_t).Uid))
	if st.IsDir() != dir || got != uid || st.Mode().Perm() != perm {
		t.Errorf("%s: mode %v, uid %s; want dir %v, uid %s, %v", path, st.Mode(), got, dir, uid, perm)
	}
}

// victim is a file and a directory of ours outside the server's reach, which a planted link
// points to; assertUntouched checks that nothing wrote, chowned or chmodded them.
type victim struct{ file, dir string }

func newVictim(t *testing.T) victim {
	t.Helper()
	base := t.TempDir()
	v := victim{filepath.Join(base, "file"), filepath.Join(base, "dir")}
	if err := os.WriteFile(v.file, []byte("root's own"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(v.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v victim) assertUntouched(t *testing.T) {
	t.Helper()
	me := strconv.Itoa(os.Getuid())
	assertOwned(t, v.file, false, me, 0o600)
	assertOwned(t, v.dir, true, me, 0o700)
	if b, _ := os.ReadFile(v.file); string(b) != "root's own" {
		t.Errorf("the victim file was overwritten: %q", b)
	}
	if entries, _ := os.ReadDir(v.dir); len(entries) != 0 {
		t.Errorf("something was written into the victim dir: %v", entries)
	}
}

// plant replaces path by what make creates there.
func plant(t *testing.T, path string, make func(string) error) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := make(path); err != nil {
		t.Fatal(err)
	}
}

// symlinkTo makes a link to target owned by as, as the server's user would.
func symlinkTo(target string, as *user.User) func(string) error {
	return func(p string) error {
		if err := os.Symlink(target, p); err != nil {
			return err
		}
		return lchown(p, as)
	}
}

// fileOf makes a file owned by as.
func fileOf(content string, as *user.User) func(string) error {
	return func(p string) error {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			return err
		}
		return lchown(p, as)
	}
}

// hardlinkTo makes a second name for target (same owner: it is the same file).
func hardlinkTo(target string) func(string) error {
	return func(p string) error { return os.Link(target, p) }
}

func lchown(p string, as *user.User) error {
	uid, _ := strconv.Atoi(as.Uid)
	gid, _ := strconv.Atoi(as.Gid)
	return os.Lchown(p, uid, gid)
}

// attack is a link or file planted at path (relative to the server's dir).
type attack struct {
	path string
	make func(string) error
}

// attackRestart plants each attack in turn in dir (after prepare, when given), and checks
// that start refuses to run and that the victim is untouched; then puts back what was
// there.
func attackRestart(t *testing.T, dir string, v victim, attacks []attack, prepare func() error, start func() (stop func(), err error)) {
	t.Helper()
	for _, a := range attacks {
		path := filepath.Join(dir, a.path)
		saved := filepath.Join(t.TempDir(), "saved")
		if err := os.Rename(path, saved); err != nil {
			t.Fatal(err)
		}
		if prepare != nil {
			if err := prepare(); err != nil {
				t.Fatal(err)
			}
		}
		plant(t, path, a.make)
		if stop, err := start(); err == nil {
			stop()
			t.Errorf("started with %s planted", a.path)
		} else if !strings.Contains(err.Error(), "refusing") {
			t.Errorf("%s planted: %v", a.path, err)
		}
		v.assertUntouched(t)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(saved, path); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	embeddedtest.StopAll()
	os.Exit(code)
}

func TestManagedPostgresHost(t *testing.T) {
	setSecrets(t)
	ctx := context.Background()
	dir := embeddedtest.TempDir(t)
	pgUser := serverUser(t, "postgres", "nobody")
	me := strconv.Itoa(os.Getuid())
	start := func() (*embedded.Postgres, error) {
		return embedded.StartPostgres(embedded.PostgresOptions{Dir: dir, Fast: true})
	}
	pg, err := start()
	if err != nil {
		t.Fatal(err)
	}

	// Only root writes in dir; postgres owns its data and socket directories only.
	assertOwned(t, dir, true, me, 0o711)
	for _, f := range []string{"superuser.password", "admin.password", "port"} {
		assertOwned(t, filepath.Join(dir, f), false, me, 0o600)
	}
	for _, d := range []string{"data", "run"} {
		assertOwned(t, filepath.Join(dir, d), true, pgUser.Uid, 0o700)
	}

	// The plane's admin is not a superuser; nobody but it may connect to its database.
	admin, err := pgx.Connect(ctx, pg.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	var super bool
	if err := admin.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil || super {
		t.Fatalf("admin superuser %v %v", super, err)
	}
	var tempLimit string
	if err := admin.QueryRow(ctx, `SHOW temp_file_limit`).Scan(&tempLimit); err != nil || tempLimit != "256MB" {
		t.Errorf("temp_file_limit %q %v", tempLimit, err)
	}
	if _, err := admin.Exec(ctx, `SET temp_file_limit = -1`); err == nil {
		t.Error("a non-superuser lifted temp_file_limit")
	}
	var open []string
	if err := admin.QueryRow(ctx, `SELECT coalesce(array_agg(datname::text), '{}') FROM pg_database
		WHERE datallowconn AND has_database_privilege('public', datname, 'CONNECT')`).Scan(&open); err != nil || len(open) != 0 {
		t.Fatalf("PUBLIC may connect to %v (%v)", open, err)
	}

	// Neither the postmaster nor what a Postgres superuser runs (COPY … FROM PROGRAM, with
	// a backend's environment) sees gaib's secrets.
	pidFile, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	postmaster, _ := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	assertCleanProcess(t, postmaster, pgUser)
	su, err := pgx.Connect(ctx, pg.SuperuserURL())
	if err != nil {
		t.Fatal(err)
	}
	var env string
	if _, err := su.Exec(ctx, `CREATE TEMP TABLE env (line text); COPY env FROM PROGRAM 'env'`); err != nil {
		t.Fatal(err)
	}
	if err := su.QueryRow(ctx, `SELECT string_agg(line, E'\n') FROM env`).Scan(&env); err != nil {
		t.Fatal(err)
	}
	su.Close(ctx)
	for name, value := range secrets {
		if strings.Contains(env, name) || strings.Contains(env, value) {
			t.Errorf("a program run by postgres sees %s: %s", name, env)
		}
	}
	if !strings.Contains(env, "HOME="+pgUser.HomeDir) {
		t.Errorf("a program run by postgres has HOME: %s", env)
	}
	admin.Close(ctx)
	pg.Stop()

	// With the postgres user, the attacker plants links and files before the next start.
	// Each is refused, and what it points to is untouched.
	v := newVictim(t)
	// The old layout gave dir itself to postgres (a start takes it back first): each attack
	// starts from there.
	attackRestart(t, dir, v, []attack{
		{"port", symlinkTo(v.file, pgUser)},
		{"admin.password", symlinkTo(v.file, pgUser)},
		{"superuser.password", symlinkTo(v.file, pgUser)},
		{"run", symlinkTo(v.dir, pgUser)},
		{"data", symlinkTo(v.dir, pgUser)},
		{"admin.password", hardlinkTo(v.file)},
		{"superuser.password", fileOf("guessed", pgUser)},
	}, func() error { return lchown(dir, pgUser) }, func() (func(), error) {
		pg, err := start()
		if err != nil {
			return nil, err
		}
		return pg.Stop, nil
	})

	// Cleaned up, the cluster starts again, with its data.
	pg, err = start()
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	assertOwned(t, dir, true, me, 0o711)
	c, err := pgx.Connect(ctx, pg.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	v.assertUntouched(t)
}

func TestManagedRedisHost(t *testing.T) {
	setSecrets(t)
	ctx := context.Background()
	dir := embeddedtest.TempDir(t)
	redisUser := serverUser(t, "redis", "nobody")
	me := strconv.Itoa(os.Getuid())

	// A directory laid out by an earlier gaib (everything root's, in dir itself) moves to
	// the new layout and keeps its admin password.
	if err := os.WriteFile(filepath.Join(dir, "admin.password"), []byte("oldpassword"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.acl"), []byte("user default on >oldpassword ~* &* +@all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() (*embedded.Redis, error) {
		return embedded.StartRedis(embedded.RedisOptions{Dir: dir, Ephemeral: true})
	}
	rs, err := start()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rs.URL(), ":oldpassword@") {
		t.Fatalf("admin password changed: %s", rs.URL())
	}
	assertOwned(t, dir, true, me, 0o711)
	assertOwned(t, filepath.Join(dir, "admin.password"), false, me, 0o600)
	assertOwned(t, filepath.Join(dir, "data"), true, redisUser.Uid, 0o700)
	assertOwned(t, filepath.Join(dir, "data", "users.acl"), false, redisUser.Uid, 0o600)
	if _, err := os.Lstat(filepath.Join(dir, "users.acl")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the old ACL file is still in root's directory: %v", err)
	}

	opt, _ := redis.ParseURL(rs.URL())
	admin := redis.NewClient(opt)
	defer admin.Close()
	for k, want := range map[string]string{"databases": "1", "maxmemory": strconv.Itoa(256 << 20),
		"maxmemory-policy": "noeviction", "proto-max-bulk-len": strconv.Itoa(32 << 20)} {
		got, err := admin.ConfigGet(ctx, k).Result()
		if err != nil || got[k] != want {
			t.Errorf("%s = %q (%v), want %s", k, got[k], err, want)
		}
	}
	info, err := admin.Info(ctx, "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(info, "process_id:")
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]))
	assertCleanProcess(t, pid, redisUser)
	rs.Stop()

	// The redis user plants links where root reads or writes: refused, victims untouched.
	v := newVictim(t)
	attackRestart(t, dir, v, []attack{
		{"port", symlinkTo(v.file, redisUser)},
		{"admin.password", symlinkTo(v.file, redisUser)},
		{"data", symlinkTo(v.dir, redisUser)},
	}, nil, func() (func(), error) {
		rs, err := start()
		if err != nil {
			return nil, err
		}
		return rs.Stop, nil
	})
	// In its own directory, the redis user replaces the ACL file by a link: root does not
	// write through it (the server, as redis, cannot read root's file and fails).
	acl := filepath.Join(dir, "data", "users.acl")
	plant(t, acl, symlinkTo(v.file, redisUser))
	if rs, err := start(); err == nil {
		rs.Stop()
	}
	v.assertUntouched(t)
}
