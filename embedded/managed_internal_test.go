package embedded

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestManagedServersGoWithTheirDataDir: a managed server directory outside the data dir is
// removed when its data dir is deleted (at the next start of any serve), and replaced when
// the data dir is created again at the same path.
func TestManagedServersGoWithTheirDataDir(t *testing.T) {
	fallbackRoot = t.TempDir()
	t.Cleanup(func() { fallbackRoot = "/var/lib/gaib" })
	home := t.TempDir()
	a, b := filepath.Join(home, "a"), filepath.Join(home, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	dirA, dirB := filepath.Join(fallbackRoot, "postgres-aaaaaaaaaaaa"), filepath.Join(fallbackRoot, "redis-bbbbbbbbbbbb")
	server := func(dir string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "data", "PG_VERSION"), []byte("15"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range [][2]string{{a, dirA}, {b, dirB}} {
		if removed, err := BindManagedDir(p[0], p[1]); err != nil || removed != "" {
			t.Fatalf("first bind: %q %v", removed, err)
		}
		server(p[1])
	}
	// Started again with the same data dir: kept.
	if removed, err := BindManagedDir(a, dirA); err != nil || removed != "" {
		t.Fatalf("rebind: %q %v", removed, err)
	}
	if removed, err := PruneManaged(); err != nil || len(removed) != 0 {
		t.Fatalf("prune with both data dirs: %v %v", removed, err)
	}
	// b is deleted: its server goes at the next prune, a's stays.
	if err := os.RemoveAll(b); err != nil {
		t.Fatal(err)
	}
	removed, err := PruneManaged()
	if err != nil || !slices.Equal(removed, []string{dirB}) {
		t.Fatalf("prune after deleting b: %v %v", removed, err)
	}
	if _, err := os.Stat(dirB); !os.IsNotExist(err) {
		t.Fatalf("b's server is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dirA, "data", "PG_VERSION")); err != nil {
		t.Fatalf("a's server was removed: %v", err)
	}
	// a is deleted and created again at the same path: the old server is replaced.
	if err := os.RemoveAll(a); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(a, 0o700); err != nil {
		t.Fatal(err)
	}
	if removed, err := BindManagedDir(a, dirA); err != nil || removed != dirA {
		t.Fatalf("bind of a new data dir at a's path: %q %v", removed, err)
	}
	if _, err := os.Stat(dirA); !os.IsNotExist(err) {
		t.Fatalf("the earlier data dir's server is still there: %v", err)
	}
	// A link planted where a server directory is expected is never followed.
	victim := t.TempDir()
	if err := os.WriteFile(filepath.Join(victim, "keep"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(fallbackRoot, "redis-cccccccccccc")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if _, err := BindManagedDir(a, link); err == nil {
		t.Fatal("a link was taken for a server directory")
	}
	if _, err := os.Stat(filepath.Join(victim, "keep")); err != nil {
		t.Fatalf("the link's target was touched: %v", err)
	}
}
