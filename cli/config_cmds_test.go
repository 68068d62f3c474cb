package cli_test

import (
	"slices"
	"testing"
)

func TestParseConfigCommands(t *testing.T) {
	c, kctx, err := parse(t, "sandbox", "config", "set", "demo", "A=1", "B=a,b=c", "--secret")
	if err != nil || kctx.Command() != "sandbox config set <name> <KEY=VALUE>" {
		t.Fatalf("set: %v %v", kctx, err)
	}
	if set := c.Sandbox.Config.Set; !set.Secret || !slices.Equal(set.Vars, []string{"A=1", "B=a,b=c"}) {
		t.Fatalf("set parsed %+v", set)
	}
	// --config is repeatable and never split on commas.
	c, _, err = parse(t, "sandbox", "create", "demo", "--config", "A=1,2", "--config", "B==x", "--secret")
	if err != nil || !slices.Equal([]string(c.Sandbox.Create.Config), []string{"A=1,2", "B==x"}) || !c.Sandbox.Create.Secret {
		t.Fatalf("create --config: %+v %v", c.Sandbox.Create.CreateConfig, err)
	}
	if _, _, err := parse(t, "sandbox", "create", "demo", "--config", "NOEQUALS"); err == nil {
		t.Fatal("--config without = was accepted")
	}
	for _, args := range [][]string{
		{"sandbox", "config", "get", "demo", "KEY", "--show-secrets"}, {"sandbox", "config", "ls", "demo"},
		{"sandbox", "config", "rm", "demo", "A", "B"},
	} {
		if _, _, err := parse(t, args...); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}
