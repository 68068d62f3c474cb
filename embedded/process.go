package embedded

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled means the server's binaries are not on this machine.
var ErrNotInstalled = errors.New("not installed")

// FreePort returns a loopback TCP port nobody listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portFree reports whether a loopback port can be listened on.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// stablePort returns the port recorded in file if it is still free, else a new free port
// (recorded), so a managed server keeps its URL across restarts when it can. file lives in
// a directory only we can write; a link or a file that is not ours there is refused.
func stablePort(file string) (int, error) {
	b, err := readOwnFile(file)
	switch {
	case err == nil:
		if p, err := strconv.Atoi(string(bytes.TrimSpace(b))); err == nil && portFree(p) {
			return p, nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return 0, err
	}
	p, err := FreePort()
	if err != nil {
		return 0, err
	}
	return p, writeOwnFile(file, []byte(strconv.Itoa(p)))
}

// findBinary returns the first existing path among globs (newest version first).
func findBinary(globs ...string) (string, error) {
	for _, g := range globs {
		matches, _ := filepath.Glob(g)
		sort.Sort(sort.Reverse(sort.StringSlice(matches)))
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && !st.IsDir() {
				return m, nil
			}
		}
	}
	return "", ErrNotInstalled
}

// runAs is the account a server runs as: the current one, or, for root, an unprivileged
// one (Postgres refuses to run as root, and no server needs root).
type runAs struct {
	cred *syscall.Credential
	owner
	home string
}

func unprivileged(names ...string) (runAs, error) {
	if os.Geteuid() != 0 {
		home, _ := os.UserHomeDir()
		return runAs{owner: self(), home: home}, nil
	}
	for _, n := range names {
		u, err := user.Lookup(n)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return runAs{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, owner: owner{uid, gid}, home: u.HomeDir}, nil
	}
	return runAs{}, fmt.Errorf("running as root and none of the users %v exists to run the server", names)
}

// childPath is the PATH of a server process.
const childPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// env is the whole environment of a server process: PATH, the user's HOME and the locale
// and time zone. Nothing else of gaib's environment (GAIB_SECRET, DATABASE_URL, REDIS_URL,
// NATS_*, …) is passed on: a server's /proc/<pid>/environ is readable by whoever holds its
// user.
func (r runAs) env() []string {
	env := []string{"PATH=" + childPath, "HOME=" + r.home}
	for _, k := range []string{"LANG", "LC_ALL", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// command prepares a server command that runs as r, with r.env() only, in /, and dies with
// its parent.
func (r runAs) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Dir = r.env(), "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred, Pdeathsig: syscall.SIGTERM, Setpgid: true}
	return cmd
}

// accessible reports whether uid can reach dir (every ancestor must be searchable).
func accessible(dir string, uid int) bool {
	if uid == 0 || uid == os.Getuid() {
		return true
	}
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err == nil {
			sys := st.Sys().(*syscall.Stat_t)
			if int(sys.Uid) != uid && st.Mode().Perm()&0o001 == 0 {
				return false
			}
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// serverDir prepares dir for a server that runs as as: dir is ours, mode 0711 (as may pass
// through it but not write there), every ancestor is safe (checkAncestors) and as can reach
// it. A dir that an earlier gaib gave to as is taken back.
func serverDir(dir string, as runAs) error {
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	if err := checkAncestors(parent); err != nil {
		return err
	}
	if !accessible(parent, as.uid) {
		return fmt.Errorf("the server runs as uid %d, which cannot reach %s: choose a data dir outside a private home directory", as.uid, dir)
	}
	if err := reclaimDir(dir, as.owner); err != nil {
		return err
	}
	return ownDir(dir, 0o711, self())
}

// managedDir is where `gaib serve` keeps a managed server's files for a data dir:
// <dataDir>/<name>, unless the server must run as another user (gaib runs as root) who
// cannot reach the data dir (a private home directory); then /var/lib/gaib/<name>-<hash>.
func managedDir(dataDir, name string, users ...string) string {
	dir := filepath.Join(dataDir, name)
	as, err := unprivileged(users...)
	if err != nil || accessible(dataDir, as.uid) {
		return dir
	}
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join(fallbackRoot, name+"-"+hex.EncodeToString(sum[:6]))
}

// process is a running child server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  *bytes.Buffer
	once sync.Once
}

func start(cmd *exec.Cmd) (*process, error) {
	p := &process{cmd: cmd, done: make(chan struct{}), log: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitReady polls ready until it succeeds, the process exits, or timeout.
func (p *process) waitReady(timeout time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited (%v): %s", p.err, lastLines(p.log.String()))
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("not ready after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop asks the server to stop (SIGTERM), kills it after 15s, and waits.
func (p *process) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

func lastLines(s string) string {
	if len(s) > 800 {
		s = "…" + s[len(s)-800:]
	}
	return s
}
