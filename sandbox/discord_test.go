package sandbox_test

import (
	"strings"
	"testing"

	"github.com/arrakis/gaib/sandbox"
)

func TestDiscordToken(t *testing.T) {
	s := sandbox.Secret("server-secret")
	id, other := "k3v9x0a1bc", "q7w8e9r0ty"
	tok := s.DiscordToken(id)
	if got, ok := s.VerifyDiscordToken(tok); !ok || got != id {
		t.Fatalf("VerifyDiscordToken(%q) = %q, %v", tok, got, ok)
	}
	if tok == s.DiscordToken(other) || strings.Contains(tok, s.Password("postgres", id)) || strings.Contains(tok, s.Password("redis", id)) {
		t.Fatal("the token is shared with another sandbox or a plane password")
	}
	mac := strings.TrimPrefix(tok, id+".")
	for _, bad := range []string{
		"", id, id + ".", "." + mac, other + "." + mac, // another id with this mac
		sandbox.Secret("other").DiscordToken(id), tok + "x", tok[:len(tok)-1],
		strings.ToUpper(id) + "." + mac, id + "." + mac + ".x", "../" + tok,
	} {
		if got, ok := s.VerifyDiscordToken(bad); ok {
			t.Errorf("VerifyDiscordToken(%q) = %q, true", bad, got)
		}
	}
	if _, ok := sandbox.Secret(nil).VerifyDiscordToken(sandbox.Secret(nil).DiscordToken(id)); ok {
		t.Error("an empty secret verified a token")
	}
	env := sandbox.DiscordEnv("http://gaib:8090/", s, id)
	if len(env) != 2 || env[0] != (sandbox.EnvVar{Name: "DISCORD_API_BASE_URL", Value: "http://gaib:8090/api/v10"}) ||
		env[1] != (sandbox.EnvVar{Name: "DISCORD_TOKEN", Value: tok}) {
		t.Fatalf("DiscordEnv = %+v", env)
	}
	if env := sandbox.DiscordEnv("", s, id); env != nil {
		t.Fatalf("DiscordEnv without a proxy = %+v", env)
	}
}

func TestDiscordNames(t *testing.T) {
	if got := sandbox.SandboxCommandsFilter(); got != "sandbox.*.commands.>" {
		t.Fatal(got)
	}
	for subject, want := range map[string]string{
		"sandbox.k3v9x0a1bc.commands.interaction": "k3v9x0a1bc",
		"sandbox.k3v9x0a1bc":                      "",
		"sandbox.K3V9X0A1BC.commands.x":           "",
		"events.member.join":                      "",
		"sandbox.*.commands.x":                    "",
	} {
		if got, _ := sandbox.SandboxOfSubject(subject); got != want {
			t.Errorf("SandboxOfSubject(%q) = %q, want %q", subject, got, want)
		}
	}
	k := sandbox.DiscordInteractionKey("aW50ZXJhY3Rpb246MTIz")
	if len(k) != 43 || strings.ContainsAny(k, "+/=") || k == sandbox.DiscordInteractionKey("aW50ZXJhY3Rpb246MTI0") {
		t.Fatalf("DiscordInteractionKey = %q", k)
	}
}
