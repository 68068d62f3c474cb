package cli

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// ConfigCmd groups `gaib sandbox config`: the environment variables a sandbox's worker gets
// from connect and run, and over NATS while it runs.
type ConfigCmd struct {
	Set   ConfigSetCmd   `cmd:"" help:"Set keys of a sandbox's config: KEY=VALUE… (running workers are told)."`
	Get   ConfigGetCmd   `cmd:"" help:"Print the value of one key."`
	List  ConfigListCmd  `cmd:"" aliases:"ls" help:"List a sandbox's config (secret values redacted unless --show-secrets)."`
	Unset ConfigUnsetCmd `cmd:"" aliases:"rm" help:"Remove keys of a sandbox's config."`
}

// Assignments are the KEY=VALUE arguments of a flag, one per occurrence: a value may hold
// commas and '=' (kong would split a []string flag on commas).
type Assignments []string

// Decode takes one KEY=VALUE argument; kong calls it for each occurrence of the flag.
func (a *Assignments) Decode(ctx *kong.DecodeContext) error {
	var s string
	if err := ctx.Scan.PopValueInto("KEY=VALUE", &s); err != nil {
		return err
	}
	if _, err := assignments([]string{s}, false); err != nil {
		return err
	}
	*a = append(*a, s)
	return nil
}

// assignments splits KEY=VALUE arguments; the mesh validates keys and values.
func assignments(args []string, secret bool) ([]sandbox.ConfigVar, error) {
	out := make([]sandbox.ConfigVar, 0, len(args))
	for _, s := range args {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "%.60q is not KEY=VALUE", s)
		}
		out = append(out, sandbox.ConfigVar{Key: k, Value: v, Secret: secret})
	}
	return out, nil
}

// CreateConfig are the config flags of `gaib sandbox create`.
type CreateConfig struct {
	Config Assignments `name:"config" placeholder:"KEY=VALUE" help:"Set a key of the sandbox's config (repeatable)."`
	Secret bool        `name:"secret" help:"The --config keys are secret: redacted in answers and the audit trail."`
}

// configVars are the create's config; Decode checked every argument's shape.
func (c CreateConfig) configVars() []sandbox.ConfigVar {
	vars, _ := assignments(c.Config, c.Secret)
	return vars
}

// ConfigSetCmd is `gaib sandbox config set`.
type ConfigSetCmd struct {
	Name   string   `arg:"" help:"Sandbox name or id."`
	Vars   []string `arg:"" name:"KEY=VALUE" help:"Keys and values to set."`
	Secret bool     `help:"These keys are secret: their values are redacted in answers and the audit trail."`
}

// Run sets the keys.
func (c *ConfigSetCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	vars, err := assignments(c.Vars, c.Secret)
	if err != nil {
		return err
	}
	return g.withClient(func(cl *client.Client) error {
		resp, err := cl.ConfigSet(ctx, c.Name, vars)
		if err != nil {
			return err
		}
		return g.out(o, resp, strings.Join(resp.Changed, "\n"), func() {
			if len(resp.Changed) == 0 {
				writeLine(o.Stdout, "Nothing changed in the config of sandbox %s.", resp.Sandbox)
				return
			}
			writeLine(o.Stdout, "Set %s in the config of sandbox %s.", strings.Join(resp.Changed, ", "), resp.Sandbox)
		})
	})
}

// Help shows examples.
func (ConfigSetCmd) Help() string {
	return examples("gaib sandbox config set my-feature LOG_LEVEL=debug FEATURE_X=on",
		"gaib sandbox config set my-feature --secret API_KEY=s3cr3t")
}

// ConfigUnsetCmd is `gaib sandbox config unset`.
type ConfigUnsetCmd struct {
	Name string   `arg:"" help:"Sandbox name or id."`
	Keys []string `arg:"" name:"KEY" help:"Keys to remove."`
}

// Run removes the keys.
func (c *ConfigUnsetCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		resp, err := cl.ConfigUnset(ctx, c.Name, c.Keys)
		if err != nil {
			return err
		}
		return g.out(o, resp, strings.Join(resp.Changed, "\n"), func() {
			if len(resp.Changed) > 0 {
				writeLine(o.Stdout, "Removed %s from the config of sandbox %s.", strings.Join(resp.Changed, ", "), resp.Sandbox)
			}
			var absent []string
			for _, k := range c.Keys {
				if !slices.Contains(resp.Changed, k) {
					absent = append(absent, k)
				}
			}
			if len(absent) > 0 {
				writeLine(o.Stdout, "Not set: %s.", strings.Join(absent, ", "))
			}
		})
	})
}

// Help shows examples.
func (ConfigUnsetCmd) Help() string {
	return examples("gaib sandbox config unset my-feature FEATURE_X")
}

// ConfigGetCmd is `gaib sandbox config get`.
type ConfigGetCmd struct {
	Name        string `arg:"" help:"Sandbox name or id."`
	Key         string `arg:"" help:"The key."`
	ShowSecrets bool   `help:"Print the value even if the key is secret."`
}

// Run prints the value alone (for $(…)), or RedactedValue for a secret one. The value is
// exact when stdout is a pipe; on a terminal control characters are dropped.
func (c *ConfigGetCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		v, err := cl.ConfigGet(ctx, c.Name, c.Key, c.ShowSecrets)
		if err != nil {
			return err
		}
		if g.structured() {
			return g.document(o.Stdout, v)
		}
		value := shownValue(v)
		if o.StdoutIsTerminal {
			value = cleanLines(value)
		}
		fmt.Fprintln(o.Stdout, value)
		return nil
	})
}

// Help shows examples.
func (ConfigGetCmd) Help() string {
	return examples("gaib sandbox config get my-feature LOG_LEVEL",
		"gaib sandbox config get my-feature API_KEY --show-secrets")
}

// ConfigListCmd is `gaib sandbox config list`.
type ConfigListCmd struct {
	Name        string `arg:"" help:"Sandbox name or id."`
	ShowSecrets bool   `help:"Show the values of secret keys."`
}

// Run lists the config: KEY, VALUE (quoted when it holds a line break or a quote), SECRET.
func (c *ConfigListCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		resp, err := cl.ConfigList(ctx, c.Name, c.ShowSecrets)
		if err != nil {
			return err
		}
		keys := make([]string, len(resp.Vars))
		for i, v := range resp.Vars {
			keys[i] = v.Key
		}
		return g.out(o, resp, strings.Join(keys, "\n"), func() {
			if len(resp.Vars) == 0 {
				writeLine(o.Stdout, "Sandbox %s has no config. Set some with: gaib sandbox config set %s KEY=VALUE", resp.Sandbox, resp.Sandbox)
				return
			}
			t := newTable("KEY", "VALUE~", "SECRET")
			for _, v := range resp.Vars {
				value := shownValue(v)
				if strings.ContainsAny(value, "\t\r\n\"") {
					value = strconv.Quote(value)
				}
				t.row(v.Key, value, strconv.FormatBool(v.Secret))
			}
			if err := g.render(o, t); err != nil {
				writeLine(o.Stderr, "gaib: %v", err)
			}
		})
	})
}

// Help shows examples.
func (ConfigListCmd) Help() string {
	return examples("gaib sandbox config list my-feature", "gaib sandbox config ls my-feature -o json")
}

func shownValue(v sandbox.ConfigVar) string {
	if v.Redacted {
		return sandbox.RedactedValue
	}
	return v.Value
}
