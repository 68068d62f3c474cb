package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// fallbackRoot is where managed servers live when their unprivileged user cannot reach the
// data dir (gaib runs as root with a private home directory).
var fallbackRoot = "/var/lib/gaib"

// fallbackName matches the directories managedDir creates under fallbackRoot.
var fallbackName = regexp.MustCompile(`^(postgres|redis)-[0-9a-f]{12}$`)

// BindManagedDir ties a managed server's directory outside the data dir (under
// /var/lib/gaib) to that data dir, so that it goes when the data dir goes: a token kept in
// the data dir is recorded in a marker next to the server's directory. A server directory
// whose marker names another token belongs to an earlier data dir at the same path (deleted
// and created again): it is removed, and its path returned, before a new server starts
// there. For a directory inside the data dir it does nothing.
func BindManagedDir(dataDir, dir string) (removed string, err error) {
	if filepath.Dir(dir) != fallbackRoot || !fallbackName.MatchString(filepath.Base(dir)) {
		return "", nil
	}
	token, err := secretFile(filepath.Join(dataDir, "managed-"+filepath.Base(dir)+".token"))
	if err != nil {
		return "", fmt.Errorf("managed server token: %w", err)
	}
	marker := dir + ".owner"
	prev, err := readOwnFile(marker)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := os.Lstat(dir); serr == nil {
			// A server directory without a marker: from an older gaib, or its marker was
			// lost. It cannot be tied to this data dir; start afresh.
			if err := removeFallback(dir); err != nil {
				return "", err
			}
			removed = dir
		}
	case err != nil:
		return "", err
	case strings.SplitN(string(prev), "\n", 2)[0] != token:
		if err := removeFallback(dir); err != nil {
			return "", err
		}
		removed = dir
	}
	return removed, writeOwnFile(marker, []byte(token+"\n"+dataDir+"\n"))
}

// PruneManaged removes the managed servers under /var/lib/gaib whose data dir is gone (or
// was created again since), and returns what it removed. Their data dir was deleted: they
// belong to nobody.
func PruneManaged() ([]string, error) {
	entries, err := os.ReadDir(fallbackRoot)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".owner")
		if !ok || !fallbackName.MatchString(name) {
			continue
		}
		marker := filepath.Join(fallbackRoot, e.Name())
		b, err := readOwnFile(marker)
		if err != nil {
			continue // not ours to judge
		}
		parts := strings.SplitN(strings.TrimSpace(string(b)), "\n", 2)
		if len(parts) != 2 {
			continue
		}
		token, dataDir := parts[0], parts[1]
		cur, err := readOwnFile(filepath.Join(dataDir, "managed-"+name+".token"))
		if err == nil && string(cur) == token {
			continue // its data dir is still there
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue // unreadable: leave it
		}
		dir := filepath.Join(fallbackRoot, name)
		if err := removeFallback(dir); err != nil {
			return removed, err
		}
		if err := os.Remove(marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, dir)
	}
	return removed, nil
}

// removeFallback removes a managed server directory under /var/lib/gaib: a real directory
// (never a link), whatever it holds (os.RemoveAll does not follow links inside).
func removeFallback(dir string) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return unsafePath(dir, "is not a directory")
	}
	return os.RemoveAll(dir)
}
