package embedded

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// gaib usually runs as root and hands directories to the unprivileged users its servers run
// as (postgres, redis). Whoever holds such a user (a tenant who became the Postgres
// superuser, say) can plant links and files in what that user owns. So root only writes in
// directories only root can write, and never follows a link when it creates, reads, chowns
// or chmods: every file operation below works on a descriptor opened with O_NOFOLLOW, and a
// link, a non-regular file or a file owned by someone else is refused, never repaired.

// owner is a uid:gid pair.
type owner struct{ uid, gid int }

// self is the user this process runs as.
func self() owner { return owner{os.Getuid(), os.Getgid()} }

// errUnsafe wraps every refusal, so callers and tests can tell tampering from I/O errors.
var errUnsafe = errors.New("refusing an unsafe path")

func unsafePath(path, why string, args ...any) error {
	return fmt.Errorf("%w: %s %s", errUnsafe, path, fmt.Sprintf(why, args...))
}

// openNoFollow opens path without following a link in its last component; a link answers
// ELOOP, which becomes a refusal.
func openNoFollow(path string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, perm)
	if errors.Is(err, syscall.ELOOP) {
		return nil, unsafePath(path, "is a symbolic link")
	}
	return f, err
}

func statOf(f *os.File) (fs.FileInfo, *syscall.Stat_t, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	return st, st.Sys().(*syscall.Stat_t), nil
}

// ownDir makes path a directory owned by o with mode perm: created when missing, else it
// must already be a real directory (not a link) owned by o. Nothing is ever chowned but a
// directory this call created.
func ownDir(path string, perm fs.FileMode, o owner) error {
	created := true
	if err := os.Mkdir(path, 0o700); errors.Is(err, fs.ErrExist) {
		created = false
	} else if err != nil {
		return err
	}
	f, err := openNoFollow(path, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if errors.Is(err, syscall.ENOTDIR) {
		return unsafePath(path, "is not a directory")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	_, sys, err := statOf(f)
	if err != nil {
		return err
	}
	switch {
	case created && (int(sys.Uid) != o.uid || int(sys.Gid) != o.gid):
		if err := f.Chown(o.uid, o.gid); err != nil {
			return err
		}
	case !created && int(sys.Uid) != o.uid:
		return unsafePath(path, "is owned by uid %d, not %d", sys.Uid, o.uid)
	}
	return f.Chmod(perm)
}

// reclaimDir takes back a directory that an earlier gaib handed to from (the old layout of a
// managed cluster gave the whole directory to postgres): a real directory owned by from
// becomes ours. What it holds is then checked file by file as it is used.
func reclaimDir(path string, from owner) error {
	if from == self() {
		return nil
	}
	f, err := openNoFollow(path, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, sys, err := statOf(f); err != nil || int(sys.Uid) != from.uid {
		return err
	}
	me := self()
	return f.Chown(me.uid, me.gid)
}

// readOwnFile reads a file that only this process's user can have written: a regular file,
// not a link, owned by us, with a single link (a hard link to someone else's file is refused).
func readOwnFile(path string) ([]byte, error) {
	f, err := openNoFollow(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, sys, err := statOf(f)
	if err != nil {
		return nil, err
	}
	switch {
	case !st.Mode().IsRegular():
		return nil, unsafePath(path, "is not a regular file")
	case int(sys.Uid) != self().uid:
		return nil, unsafePath(path, "is owned by uid %d, not %d", sys.Uid, self().uid)
	case sys.Nlink != 1:
		return nil, unsafePath(path, "has %d hard links", sys.Nlink)
	}
	return io.ReadAll(f)
}

// createFile creates path, which must not exist (O_EXCL: not even as a link), with data,
// mode perm and owner o.
func createFile(path string, data []byte, perm fs.FileMode, o owner) error {
	f, err := openNoFollow(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return unsafePath(path, "already exists")
	}
	if err != nil {
		return err
	}
	if o != self() {
		if err := f.Chown(o.uid, o.gid); err != nil {
			f.Close()
			return err
		}
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeOwnFile replaces path with data (mode 0600): a new file is written next to it and
// renamed over it, so whatever was at path, a link included, is replaced, never written
// through. dir(path) must be a directory only we can write.
func writeOwnFile(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+randomHex(6))
	if err := createFile(tmp, data, 0o600, self()); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// secretFile returns the secret kept in path (ours, checked by readOwnFile), creating it
// with fresh random hex when it does not exist.
func secretFile(path string) (string, error) {
	b, err := readOwnFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		s := randomHex(24)
		return s, createFile(path, []byte(s), 0o600, self())
	}
	return string(b), err
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// checkAncestors refuses a directory whose path passes through a directory someone else
// could rewrite: every ancestor (and link on the way) must belong to root or to us, and
// one that others may write must be sticky (/tmp), so no entry of ours can be swapped.
func checkAncestors(dir string) error {
	me := uint32(self().uid)
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		for _, stat := range []func(string) (fs.FileInfo, error){os.Lstat, os.Stat} {
			st, err := stat(d)
			if errors.Is(err, fs.ErrNotExist) {
				break
			}
			if err != nil {
				return err
			}
			sys := st.Sys().(*syscall.Stat_t)
			if sys.Uid != 0 && sys.Uid != me {
				return unsafePath(d, "is owned by uid %d, neither root nor us", sys.Uid)
			}
			if st.Mode()&fs.ModeSymlink == 0 && st.Mode().Perm()&0o022 != 0 && st.Mode()&fs.ModeSticky == 0 {
				return unsafePath(d, "may be written by others (mode %v) and is not sticky", st.Mode())
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
