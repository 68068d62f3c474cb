package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/arrakis/gaib/sandbox"
)

// ConnectCmd is `gaib sandbox connect`.
type ConnectCmd struct {
	Name string `arg:"" help:"Sandbox name or id."`
}

// Run prints `export NAME='value'` lines, every value shell-quoted, so that
// eval "$(gaib sandbox connect NAME)" is safe whatever the data.
func (c *ConnectCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *Client) error {
		resp, err := cl.Connect(ctx, c.Name)
		if err != nil {
			return err
		}
		if g.JSON {
			env := map[string]string{}
			for _, e := range resp.Env {
				env[e.Name] = e.Value
			}
			return writeJSON(o.Stdout, map[string]any{"sandbox": resp.Record, "env": env})
		}
		for _, e := range resp.Env {
			fmt.Fprintf(o.Stdout, "export %s=%s\n", e.Name, ShellQuote(e.Value))
		}
		return nil
	})
}

// ShellQuote quotes s for POSIX shells: inside single quotes nothing is special, and a
// single quote is written as '\”.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// envOf turns a connect response into KEY=value pairs for a child process.
func envOf(vars []sandbox.EnvVar) []string {
	out := make([]string, 0, len(vars))
	for _, e := range vars {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}
