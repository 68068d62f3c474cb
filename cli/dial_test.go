package cli

import (
	"os"
	"path/filepath"
	"testing"
)

func TestNATSContextSuppliesURLAndCredentials(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	ctxDir := filepath.Join(dir, "nats", "context")
	if err := os.MkdirAll(ctxDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "dev.json"), []byte(`{"url":"nats://ctx:4222","user":"u","password":"p"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	url, opts, err := (&Globals{Context: "dev"}).connection()
	if err != nil || url != "nats://ctx:4222" || len(opts) != 1 {
		t.Fatalf("context: %q %d options, %v", url, len(opts), err)
	}
	// An explicit --server wins over the context's URL.
	if url, _, _ := (&Globals{Context: "dev", Server: "nats://flag:4222"}).connection(); url != "nats://flag:4222" {
		t.Fatalf("--server with --context gave %q", url)
	}
	for _, bad := range []string{"missing", "../dev", "a/b"} {
		if _, _, err := (&Globals{Context: bad}).connection(); err == nil {
			t.Errorf("context %q accepted", bad)
		}
	}
}
