package sandbox_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

func TestNewIDShape(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := sandbox.NewID()
		if !sandbox.ValidID(id) {
			t.Fatalf("NewID() = %q is not valid", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "0abcdefghi", "abcdefghi", "abcdefghijk", "Abcdefghij", "abcde_ghij", "abcd.fghij"} {
		if sandbox.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"demo", "a", "a-b", "x1", strings.Repeat("a", 40), "0day"} {
		if err := sandbox.ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../x", "a;b", "$(id)", strings.Repeat("a", 41), "Upper", "-a", "a-",
		"a_b", "a.b", "a b", "é", "a\x00"} {
		err := sandbox.ValidateName(bad)
		if !errors.Is(err, &sandbox.Error{Code: sandbox.CodeInvalidName}) {
			t.Errorf("ValidateName(%q) = %v, want invalid_name", bad, err)
		}
	}
}

func TestDefaultName(t *testing.T) {
	for _, owner := range []string{"alice", "Jane.Doe@example.com", "___", strings.Repeat("x", 80)} {
		n := sandbox.DefaultName(owner)
		if err := sandbox.ValidateName(n); err != nil {
			t.Errorf("DefaultName(%q) = %q: %v", owner, n, err)
		}
	}
	if n := sandbox.DefaultName("alice"); !strings.HasPrefix(n, "alice-") || len(n) != len("alice-")+4 {
		t.Errorf("DefaultName(alice) = %q", n)
	}
}

func TestGuildIDs(t *testing.T) {
	for _, ok := range []string{"12345678901234567", "123456789012345678", "12345678901234567890"} {
		if err := sandbox.ValidateGuildID(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "1234567890123456", "123456789012345678901", "12345678901234567a",
		"-12345678901234567", "01234567890123456", " 123456789012345678"} {
		if err := sandbox.ValidateGuildID(bad); !errors.Is(err, &sandbox.Error{Code: sandbox.CodeInvalidGuild}) {
			t.Errorf("ValidateGuildID(%q) = %v", bad, err)
		}
	}
}

func TestParseAndFormatTTL(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90m": 90 * time.Minute, "48h": 48 * time.Hour, "2d": 48 * time.Hour, "1w": 168 * time.Hour,
		"1d12h": 36 * time.Hour, "1w1d": 192 * time.Hour, "1h30m": 90 * time.Minute, "30s": 30 * time.Second,
	} {
		got, err := sandbox.ParseTTL(in)
		if err != nil || got != want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, err := sandbox.ParseTTL(sandbox.FormatTTL(got)); err != nil || back != got {
			t.Errorf("FormatTTL(%v) = %q does not parse back", got, sandbox.FormatTTL(got))
		}
	}
	for _, bad := range []string{"", "0", "0s", "-1h", "d", "1x", "2dd", "1d-1h", "w1", "99999999d", "1.5d"} {
		if _, err := sandbox.ParseTTL(bad); !errors.Is(err, &sandbox.Error{Code: sandbox.CodeInvalidTTL}) {
			t.Errorf("ParseTTL(%q) = %v, want invalid_ttl", bad, err)
		}
	}
	if got := sandbox.FormatTTL(26*time.Hour + 5*time.Second); got != "1d2h5s" {
		t.Errorf("FormatTTL = %q", got)
	}
}

func TestTTLBounds(t *testing.T) {
	b := sandbox.TTLBounds{Default: 24 * time.Hour, Min: time.Minute, Max: 168 * time.Hour}
	if err := b.Check(time.Hour); err != nil {
		t.Fatal(err)
	}
	err := b.Check(8 * 24 * time.Hour)
	if err == nil || !strings.Contains(err.Error(), "between 1m and 7d") {
		t.Fatalf("Check(8d) = %v", err)
	}
}

func TestResourcesRoundTrip(t *testing.T) {
	id := sandbox.NewID()
	r := sandbox.ResourcesFor(id)
	for _, name := range []string{r.Schema, r.Role, r.RedisUser, r.RedisPrefix + "key", r.NATSPrefix + "events.x",
		sandbox.SandboxSubject(id, "events.member.join")} {
		got, ok := sandbox.IDFromResource(name)
		if !ok || got != id {
			t.Errorf("IDFromResource(%q) = %q, %v", name, got, ok)
		}
	}
	// Look-alikes are never taken for derived names: this is what LIKE 'sandbox_%' got wrong.
	for _, name := range []string{"sandboxes", "sandbox_", "sandbox_abc", "sandboxXabcdefghij", "sandbox_abcdefghijk",
		"sandbox_Abcdefghij", "sandbox:abcdefghij", "sandbox_abcdefghij_old", "public", "sandbox.abcdefghijevents"} {
		if id, ok := sandbox.IDFromResource(name); ok {
			t.Errorf("IDFromResource(%q) = %q", name, id)
		}
	}
}

func TestSubjectsStayOutOfSandboxNamespaces(t *testing.T) {
	for _, op := range []string{sandbox.OpCreate, sandbox.OpDestroy, sandbox.OpConnect} {
		s := sandbox.Endpoint(sandbox.ServiceSandbox, op)
		if strings.HasPrefix(s, sandbox.SandboxPrefix+".") {
			t.Errorf("control subject %s is under the sandbox namespace", s)
		}
	}
	if got, ok := sandbox.StripGateway("gateway.events.member.join"); !ok || got != "events.member.join" {
		t.Errorf("StripGateway = %q %v", got, ok)
	}
	for _, s := range []string{"events.member.join", "gateway.other.x", "gateway.events", "gatewayx.events.a"} {
		if _, ok := sandbox.StripGateway(s); ok {
			t.Errorf("StripGateway(%q) accepted", s)
		}
	}
}

func TestErrorCodesAndExitCodes(t *testing.T) {
	for code, exit := range map[sandbox.Code]int{
		sandbox.CodeInvalidName: 2, sandbox.CodeInvalidTTL: 2, sandbox.CodeTooLarge: 2, sandbox.CodeNotFound: 3,
		sandbox.CodeNameTaken: 4, sandbox.CodeQuotaExceeded: 4, sandbox.CodeGuildTaken: 4, sandbox.CodeWrongState: 4,
		sandbox.CodeUnavailable: 5, sandbox.CodeInternal: 1,
	} {
		if got := code.ExitCode(); got != exit {
			t.Errorf("%s → exit %d, want %d", code, got, exit)
		}
	}
	err := sandbox.Errorf(sandbox.CodeNotFound, "no sandbox named %q", "x")
	if !errors.Is(err, sandbox.ErrNotFound) || errors.Is(err, sandbox.ErrNameTaken) {
		t.Fatal("errors.Is does not match by code")
	}
	if e := sandbox.AsError(errors.New("boom")); e.Code != sandbox.CodeInternal {
		t.Fatalf("AsError = %+v", e)
	}
}

func FuzzParseTTL(f *testing.F) {
	for _, s := range []string{"1d", "1w2d3h", "90m", "", "-1", "1d1d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := sandbox.ParseTTL(s)
		if err == nil && d <= 0 {
			t.Fatalf("ParseTTL(%q) = %v without error", s, d)
		}
	})
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"demo", "../x", "a;b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if sandbox.ValidateName(s) != nil {
			return
		}
		for _, c := range s {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				t.Fatalf("ValidateName accepted %q", s)
			}
		}
	})
}

func TestReplyAllowed(t *testing.T) {
	for _, c := range []struct {
		caller, reply string
		ok            bool
	}{
		{"carol", "_INBOX.user.carol.abc.1", true},
		{"carol", "_INBOX.Xy7abc.1", true}, // an anonymous inbox: the mesh's own connections
		{"carol", "_INBOX.user.carol", false},
		{"carol", "_INBOX.user.carol..x", false},
		{"carol", "_INBOX.user.carol.x.", false},
		{"carol", "_INBOX.user.carol.", false},
		{"carol", "_INBOX.user.carolx.1", false},
		{"carol", "_INBOX.user.bob.1", false},
		{"", "_INBOX.user.bob.1", false},
		{"carol", "_INBOX.sandbox.abc123.x", false},
		{"carol", "gaib.audit.abc.destroy", false},
		{"carol", "gateway.events.member.join", false},
		{"carol", "$JS.API.STREAM.PURGE.AUDIT", false},
		{"carol", "", false},
		{"carol", "_INBOX.", false},
		{"carol", "_INBOX.>", false},
	} {
		if got := sandbox.ReplyAllowed(c.caller, c.reply); got != c.ok {
			t.Errorf("ReplyAllowed(%q, %q) = %v, want %v", c.caller, c.reply, got, c.ok)
		}
	}
}
