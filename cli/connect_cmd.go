package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/arrakis/gaib/auth"
	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// ConnectCmd is `gaib sandbox connect`.
type ConnectCmd struct {
	Name string `arg:"" help:"Sandbox name or id."`
}

// Help is the detailed help of `gaib sandbox connect`.
func (ConnectCmd) Help() string {
	return detail("Every value is shell-quoted, so eval is safe whatever the data. The shell then holds the sandbox's credentials: "+
		"gaib itself keeps acting as you there, and gaib serve refuses to start in it.",
		`eval "$(gaib sandbox connect demo)"`,
		"gaib sandbox env demo -o json | jq -r .env.DATABASE_URL")
}

// Run writes the sandbox's NATS credential to a private file and prints `export
// NAME='value'` lines, every value shell-quoted, so that eval "$(gaib sandbox connect
// NAME)" is safe whatever the data.
func (c *ConnectCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		resp, err := cl.Connect(ctx, c.Name)
		if err != nil {
			return err
		}
		path := ""
		if resp.Credentials != "" {
			dir, err := credsDir()
			if err != nil {
				return err
			}
			path = filepath.Join(dir, resp.Record.ID+".creds")
		}
		env, err := sandboxEnv(resp, path)
		if err != nil {
			return err
		}
		if g.structured() {
			m := map[string]string{}
			for _, e := range env {
				m[e.Name] = e.Value
			}
			return g.document(o.Stdout, map[string]any{"sandbox": resp.Record, "env": m})
		}
		for _, e := range env {
			fmt.Fprintf(o.Stdout, "export %s=%s\n", e.Name, ShellQuote(e.Value))
		}
		return nil
	})
}

var envNameRe = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// sandboxEnv checks a connect answer's variables (plain names gaib knows, nothing else),
// writes its NATS credential to credsPath (0600) and adds NATS_CREDS pointing there.
func sandboxEnv(resp sandbox.ConnectResponse, credsPath string) ([]sandbox.EnvVar, error) {
	out := make([]sandbox.EnvVar, 0, len(resp.Env)+1)
	for _, e := range resp.Env {
		if !envNameRe.MatchString(e.Name) || !slices.Contains(sandbox.EnvNames, e.Name) || e.Name == "NATS_CREDS" {
			return nil, sandbox.Errorf(sandbox.CodeInternal, "the mesh answered with a variable gaib does not know (%.40q): refusing to print it", e.Name)
		}
		out = append(out, e)
	}
	for _, e := range resp.Config {
		if err := sandbox.ValidateConfigVar(e.Name, e.Value); err != nil {
			return nil, sandbox.Errorf(sandbox.CodeInternal, "the mesh answered with a config variable gaib refuses (%v): refusing to print it", err)
		}
		out = append(out, e)
	}
	if resp.Credentials != "" && credsPath != "" {
		if err := auth.WritePrivate(credsPath, []byte(resp.Credentials)); err != nil {
			return nil, fmt.Errorf("write the sandbox credential: %w", err)
		}
		out = append(out, sandbox.EnvVar{Name: "NATS_CREDS", Value: credsPath})
	}
	return out, nil
}

// ShellQuote quotes s for POSIX shells: inside single quotes nothing is special, and a
// single quote is written as '\”.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// envOf turns variables into KEY=value pairs for a child process.
func envOf(vars []sandbox.EnvVar) []string {
	out := make([]string, 0, len(vars))
	for _, e := range vars {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}
