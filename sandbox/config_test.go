package sandbox_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/arrakis/gaib/sandbox"
)

func codeOf(err error) sandbox.Code {
	var e *sandbox.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestValidateConfigKey(t *testing.T) {
	for _, ok := range []string{"LOG_LEVEL", "A", "_X", "API_KEY_2", "NODE_ENV", "GOOGLE_API_KEY", "PYTH", strings.Repeat("K", 64)} {
		if err := sandbox.ValidateConfigKey(ok); err != nil {
			t.Errorf("ValidateConfigKey(%q) = %v", ok, err)
		}
	}
	bad := []string{"", "lower", "1ABC", "A-B", "A B", "A=B", "A.B", "É", "A\x00", "$(id)", strings.Repeat("K", 65),
		// gaib's own names and prefixes
		"DATABASE_URL", "REDIS_URL", "NATS_URL", "NATS_ANYTHING", "SANDBOX_ID", "SANDBOX_X", "DISCORD_TOKEN", "DISCORD_X", "GAIB_OWNER",
		// dangerous in a shell or a child's environment
		"PATH", "HOME", "PS0", "HISTFILESIZE", "EXECIGNORE", "PSQL_PAGER", "LUA_INIT", "ERL_AFLAGS", "DOTNET_STARTUP_HOOKS", "RUSTC_WRAPPER", "CC", "CGO_LDFLAGS", "NPM_CONFIG_SCRIPT_SHELL", "PIP_INDEX_URL", "GOSUMDB", "PHPRC", "AWS_CONFIG_FILE", "NIX_PATH", "REDISCLI_AUTH", "OPENSSL_CONF", "PGHOST", "PGPASSFILE", "PGSSLROOTCERT", "KRB5_CONFIG", "SSLKEYLOGFILE", "JAVA_OPTS", "SHELL", "IFS", "ENV", "BASH_ENV", "PS4", "PROMPT_COMMAND", "LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES",
		"GLIBC_TUNABLES", "GCONV_PATH", "BASH_FUNC_X", "PYTHONPATH", "NODE_OPTIONS", "PERL5OPT", "GIT_SSH_COMMAND", "SSH_AUTH_SOCK",
		"XDG_CONFIG_HOME", "HTTPS_PROXY", "SSL_CERT_FILE", "LC_ALL", "_"}
	for _, k := range bad {
		if c := codeOf(sandbox.ValidateConfigKey(k)); c != sandbox.CodeInvalidConfigKey {
			t.Errorf("ValidateConfigKey(%q): code %q, want invalid_config_key", k, c)
		}
	}
	for _, k := range sandbox.EnvNames {
		if sandbox.ValidateConfigKey(k) == nil {
			t.Errorf("gaib's own %s is accepted as a config key", k)
		}
	}
}

func TestValidateConfigValue(t *testing.T) {
	for _, ok := range []string{"", "debug", "a,b=c", "line1\nline2\r\n\tx", "héllo ✓", "'\"$(id)`;", strings.Repeat("v", sandbox.MaxConfigValueBytes)} {
		if err := sandbox.ValidateConfigValue("K", ok); err != nil {
			t.Errorf("ValidateConfigValue(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"a\x00b", "\x1b[31mred", "bell\a", "\x7f", "\u009b", "\xff\xfe", strings.Repeat("v", sandbox.MaxConfigValueBytes+1)} {
		if c := codeOf(sandbox.ValidateConfigValue("K", bad)); c != sandbox.CodeInvalidConfigValue {
			t.Errorf("ValidateConfigValue(%q): code %q, want invalid_config_value", bad, c)
		}
	}
}

func TestConfigSetUnsetAndBounds(t *testing.T) {
	var cfg sandbox.Config
	ch, err := cfg.Set([]sandbox.ConfigVar{{Key: "B", Value: "2"}, {Key: "A", Value: "1"}, {Key: "S", Value: "hunter2", Secret: true}})
	if err != nil || len(ch) != 3 || cfg.Vars[0].Key != "A" || cfg.Vars[1].Key != "B" {
		t.Fatalf("set: %v %+v %+v", err, ch, cfg.Vars)
	}
	for _, c := range ch {
		if c.Key == "S" && (c.After == nil || *c.After != sandbox.RedactedValue || !strings.Contains(c.String(), sandbox.RedactedValue)) {
			t.Errorf("secret change not redacted: %+v %s", c, c)
		}
	}
	// The same value again is no change; a new value is one, with its value before.
	if ch, _ := cfg.Set([]sandbox.ConfigVar{{Key: "A", Value: "1"}}); len(ch) != 0 {
		t.Errorf("unchanged key reported: %+v", ch)
	}
	if ch, _ := cfg.Set([]sandbox.ConfigVar{{Key: "A", Value: "9"}}); len(ch) != 1 || *ch[0].Before != "1" || *ch[0].After != "9" {
		t.Errorf("changed key: %+v", ch)
	}
	// A key that becomes non-secret keeps its old value redacted.
	if ch, _ := cfg.Set([]sandbox.ConfigVar{{Key: "S", Value: "public"}}); len(ch) != 1 || *ch[0].Before != sandbox.RedactedValue || *ch[0].After != sandbox.RedactedValue {
		t.Errorf("secret becoming public: %+v", ch)
	}
	red := cfg.Redacted(false)
	if got, _ := cfg.Get("S"); got.Secret {
		t.Errorf("S still secret: %+v", got)
	}
	for _, v := range red {
		if v.Redacted {
			t.Errorf("non-secret %s redacted", v.Key)
		}
	}
	if ch := cfg.Unset([]string{"A", "NOPE"}); len(ch) != 1 || ch[0].After != nil || ch[0].String() != "-A" {
		t.Errorf("unset: %+v", ch)
	}
	if err := cfg.Validate(""); err != nil {
		t.Errorf("valid config refused: %v", err)
	}

	// Bounds: keys and bytes; a refused set changes nothing.
	var big sandbox.Config
	var vars []sandbox.ConfigVar
	for i := range sandbox.MaxConfigKeys {
		vars = append(vars, sandbox.ConfigVar{Key: "K" + strings.Repeat("X", i), Value: "v"})
	}
	if _, err := big.Set(vars); err != nil {
		t.Fatal(err)
	}
	before := len(big.Vars)
	if _, err := big.Set([]sandbox.ConfigVar{{Key: "ONE_MORE", Value: "v"}}); codeOf(err) != sandbox.CodeConfigTooLarge || len(big.Vars) != before {
		t.Errorf("65th key: %v, %d keys", err, len(big.Vars))
	}
	var fat sandbox.Config
	vars = nil
	for i := range 8 {
		vars = append(vars, sandbox.ConfigVar{Key: "V" + string(rune('A'+i)), Value: strings.Repeat("x", sandbox.MaxConfigValueBytes)})
	}
	if _, err := fat.Set(vars); codeOf(err) != sandbox.CodeConfigTooLarge || len(fat.Vars) != 0 {
		t.Errorf("over 32 KiB: %v, %d keys", err, len(fat.Vars))
	}
	if err := sandbox.ValidateConfigVars(vars); codeOf(err) != sandbox.CodeConfigTooLarge {
		t.Errorf("a request over 32 KiB: %v", err)
	}
	if err := sandbox.ValidateConfigVars([]sandbox.ConfigVar{{Key: "A"}, {Key: "A"}}); codeOf(err) != sandbox.CodeInvalidConfigKey {
		t.Errorf("duplicate key: %v", err)
	}
	if err := sandbox.ValidateConfigVars([]sandbox.ConfigVar{{Key: "A", Redacted: true}}); codeOf(err) != sandbox.CodeInvalidConfigValue {
		t.Errorf("redacted value given back: %v", err)
	}
}

func TestConfigSubjects(t *testing.T) {
	id := sandbox.NewID()
	if got, ok := sandbox.ConfigRequestID(sandbox.ConfigGetSubject(id)); !ok || got != id {
		t.Fatalf("ConfigRequestID(%s) = %q %v", sandbox.ConfigGetSubject(id), got, ok)
	}
	if !strings.HasPrefix(sandbox.ConfigChangedSubject(id), sandbox.ResourcesFor(id).NATSPrefix) {
		t.Errorf("changed subject %s outside the namespace", sandbox.ConfigChangedSubject(id))
	}
	for _, bad := range []string{"sandbox.*.config.get", "sandbox.>.config.get", "sandbox." + id + ".x.config.get", "sandbox." + id + ".config.get.x",
		"sandbox..config.get", "gaib." + id + ".config.get", "sandbox.ABCDEFGHIJ.config.get", "sandbox." + id + ".config.changed"} {
		if got, ok := sandbox.ConfigRequestID(bad); ok {
			t.Errorf("ConfigRequestID(%q) = %q", bad, got)
		}
	}
	other := sandbox.NewID()
	if !sandbox.ConfigReplyAllowed(id, sandbox.ServiceImportReplyPrefix+"Hx7cBz.1") {
		t.Error("the import's reply refused")
	}
	for _, bad := range []string{"", sandbox.ServiceImportReplyPrefix, "_R_", "_R_x.y", sandbox.ServiceImportReplyPrefix + ">",
		sandbox.SandboxInbox(id) + ".abc.1", sandbox.SandboxInbox(other) + ".x",
		sandbox.SandboxInbox(id) + "x.y", sandbox.SandboxSubject(id, "events.x"), "gateway.events.member.join",
		sandbox.AuditSubject(id, "create"), sandbox.SandboxInbox(id) + ".>"} {
		if sandbox.ConfigReplyAllowed(id, bad) {
			t.Errorf("reply %q allowed", bad)
		}
	}
}
