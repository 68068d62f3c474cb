package sandbox_test

import (
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

func TestTokenRoundTrip(t *testing.T) {
	id, secret, token := sandbox.NewToken()
	gotID, gotSecret, err := sandbox.ParseToken(token)
	if err != nil || gotID != id || gotSecret != secret || !strings.HasPrefix(token, sandbox.TokenPrefix) {
		t.Fatalf("ParseToken(%q) = %q, %q, %v", token, gotID, gotSecret, err)
	}
	if id2, _, token2 := sandbox.NewToken(); id2 == id || token2 == token {
		t.Fatal("two tokens drawn alike")
	}
	if sandbox.TokenHash(id, secret) == sandbox.TokenHash("a"+id[1:], secret) {
		t.Fatal("the hash does not depend on the id")
	}
	for _, bad := range []string{"", "gaib_", token[:len(token)-1], token + "0", strings.ToUpper(token),
		"gaix" + token[4:], strings.Replace(token, "_", "-", 2), token[:len(token)-1] + "g",
		"gaib_0" + token[6:], "Bearer " + token} {
		if _, _, err := sandbox.ParseToken(bad); sandbox.AsError(err).Code != sandbox.CodeUnauthenticated || strings.Contains(err.Error(), bad[min(len(bad), 5):]) && len(bad) > 10 {
			t.Errorf("ParseToken(%q): %v", bad, err)
		}
	}
}

func TestAuditChanges(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := sandbox.NewRecord("abcdefghij", "demo", "alice", time.Hour, []string{"111111111111111111"}, now)
	a.Status = sandbox.StatusRunning
	got := sandbox.AuditEntry{After: &a}.Changes()
	if strings.Join(got, "; ") != "status running; owner alice; expires 2026-01-02T04:04:05Z; guilds 111111111111111111" {
		t.Fatalf("create: %q", got)
	}
	b := a
	b.Status, b.ExpiresAt, b.Guilds = sandbox.StatusDestroyed, a.ExpiresAt.Add(time.Hour), []string{"222222222222222222"}
	got = sandbox.AuditEntry{Before: &a, After: &b}.Changes()
	want := "status running → destroyed; expires 2026-01-02T04:04:05Z → 2026-01-02T05:04:05Z; +guild 222222222222222222; -guild 111111111111111111"
	if strings.Join(got, "; ") != want {
		t.Fatalf("change: %q", got)
	}
	if got := (sandbox.AuditEntry{Before: &a, After: &a}).Changes(); len(got) != 0 {
		t.Fatalf("no change: %q", got)
	}
}
