package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"github.com/arrakis/gaib/sandbox"
)

// Globals are the flags every command takes. Help lists them after the command's own, under
// "Global flags".
type Globals struct {
	Server  string        `short:"s" env:"NATS_URL" placeholder:"URL" group:"global" help:"NATS URL of the mesh (default nats://127.0.0.1:4222)."`
	Creds   string        `env:"NATS_CREDS" placeholder:"FILE" group:"global" help:"Your credential, a NATS .creds file (default ~/.config/gaib/local.creds, written by gaib serve)."`
	Context string        `name:"context" placeholder:"NAME" group:"global" help:"NATS CLI context to take the URL and credential from."`
	Timeout time.Duration `default:"30s" group:"global" help:"How long to wait for the mesh; --watch and events give up when it is away this long."`
	Output  string        `short:"o" enum:"json,yaml,name,wide," default:"" placeholder:"FORMAT" group:"global" help:"Output format: json, yaml, name (one a line) or wide (every column, uncut)."`
	JSON    bool          `name:"json" group:"global" help:"Same as -o json (errors too)."`
	Quiet   bool          `short:"q" group:"global" help:"Print only what scripts need; no notes on stderr."`
	NoColor bool          `name:"no-color" group:"global" help:"No colors (also with NO_COLOR)."`
	Version bool          `name:"version" group:"global" help:"Print the version of gaib and of the mesh."`

	// given are the flags given on the command line (not from the environment).
	given map[string]bool
}

// CLI is the root of the command tree.
type CLI struct {
	Globals

	Sandbox    SandboxCmd    `cmd:"" aliases:"sb" help:"Create, inspect, connect to and destroy sandboxes."`
	Events     EventsCmd     `cmd:"" help:"Publish test events (a stand-in for the Discord gateway)."`
	Guild      GuildCmd      `cmd:"" help:"The allow-list of test guilds that may be routed to sandboxes."`
	Router     RouterCmd     `cmd:"" help:"Inspect the event router."`
	Cleanup    CleanupCmd    `cmd:"" help:"Run the cleanup now and find orphaned resources."`
	User       UserCmd       `cmd:"" help:"Manage identities and their credentials (admins)."`
	Serve      ServeCmd      `cmd:"" help:"Run the gaib mesh: every service, the router and the cleanup (embedded NATS unless --server)."`
	Help       HelpCmd       `cmd:"" help:"Show help for gaib or one of its commands."`
	Completion CompletionCmd `cmd:"" help:"Print a shell completion script (bash, zsh or fish)."`
	VersionCmd VersionCmd    `cmd:"" name:"version" help:"Print the version of gaib and, when it answers, of the mesh."`
	Complete   CompleteCmd   `cmd:"" name:"__complete" hidden:"" help:"Complete a command line (used by the completion scripts)."`
}

// SandboxCmd groups the sandbox commands.
type SandboxCmd struct {
	Create     CreateCmd     `cmd:"" aliases:"new" help:"Create a sandbox."`
	List       ListCmd       `cmd:"" aliases:"ls" help:"List sandboxes."`
	Status     StatusCmd     `cmd:"" aliases:"get" help:"Show a sandbox and the health of each plane; --watch follows it."`
	Events     TailCmd       `cmd:"" help:"Follow the events routed to a sandbox, and its status, live."`
	Connect    ConnectCmd    `cmd:"" aliases:"env" help:"Print shell exports to use a sandbox: eval \"$$(gaib sandbox connect NAME)\"."`
	Run        RunCmd        `cmd:"" help:"Run a command with a sandbox's environment."`
	Register   RegisterCmd   `cmd:"" name:"register-guild" aliases:"link" help:"Route a Discord guild's events to a sandbox."`
	Unregister UnregisterCmd `cmd:"" name:"unregister-guild" aliases:"unlink" help:"Send a guild's events back to production."`
	Extend     ExtendCmd     `cmd:"" help:"Give a sandbox more time."`
	Destroy    DestroyCmd    `cmd:"" aliases:"rm,delete" help:"Destroy a sandbox and everything it owns."`
	Audit      AuditCmd      `cmd:"" help:"Show every change made to a sandbox: when, who, what (also once destroyed)."`
	Config     ConfigCmd     `cmd:"" help:"Set, list and unset a sandbox's config: the environment variables of its worker."`
}

// IO is where a command reads and writes; Main's caller chooses it.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// StdinIsTerminal says whether a person can answer a prompt.
	StdinIsTerminal bool
	// StdoutIsTerminal says whether a person reads stdout: --watch redraws in place.
	StdoutIsTerminal bool
	// Color enables ANSI colors on Stdout.
	Color bool
	// Width is the terminal's width in columns, 0 when stdout is not a terminal: tables
	// and event lines are fitted to it.
	Width int
}

// StdIO is the process's standard streams.
func StdIO() *IO {
	out := int(os.Stdout.Fd())
	o := &IO{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		StdinIsTerminal:  term.IsTerminal(int(os.Stdin.Fd())),
		StdoutIsTerminal: term.IsTerminal(out),
	}
	o.Color = o.StdoutIsTerminal && os.Getenv("NO_COLOR") == ""
	if o.StdoutIsTerminal {
		if w, _, err := term.GetSize(out); err == nil && w > 0 {
			o.Width = w
		}
	}
	return o
}

// exitPanic carries kong's exit code (after --help) out of Parse without os.Exit.
type exitPanic struct{ code int }

// Parser returns the kong parser for the gaib command tree.
func Parser(cli *CLI, stdio *IO, options ...kong.Option) (*kong.Kong, error) {
	options = append([]kong.Option{
		kong.Name("gaib"),
		kong.Description("Discord server sandboxes for the Arrakis bot, on a NATS micro-services mesh.\n\n" +
			"Start the mesh with `gaib serve`, then `gaib sandbox create demo`. Run `gaib help COMMAND` for more about a command."),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true}),
		kong.ExplicitGroups([]kong.Group{{Key: "global", Title: "Global flags:"}}),
		kong.Writers(stdio.Stdout, stdio.Stderr),
	}, options...)
	return kong.New(cli, options...)
}

// Main runs gaib with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdio *IO) (code int) {
	var cli CLI
	defer func() {
		if r := recover(); r != nil {
			ep, ok := r.(exitPanic)
			if !ok {
				panic(r)
			}
			code = ep.code
		}
	}()
	parser, err := Parser(&cli, stdio, kong.Exit(func(code int) { panic(exitPanic{code}) }))
	if err != nil {
		fmt.Fprintln(stdio.Stderr, "gaib:", err)
		return sandbox.ExitFailure
	}
	kctx, err := parser.Parse(args)
	g := &cli.Globals
	if err != nil {
		g.Output = preScanOutput(args)
		if g.Version {
			return g.finish(ctx, stdio, g.printVersion(ctx, stdio))
		}
		if group := bareGroup(err); group != nil {
			// `gaib` and `gaib sandbox` alone show what there is to run.
			_ = group.PrintUsage(false)
			return sandbox.ExitOK
		}
		return g.report(stdio, usageError(err))
	}
	g.settle(kctx, stdio)
	if g.Version {
		return g.finish(ctx, stdio, g.printVersion(ctx, stdio))
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	return g.finish(ctx, stdio, kctx.Run(g, stdio))
}

// settle reconciles the output flags after parsing: --json is -o json; structured output
// has no colors.
func (g *Globals) settle(kctx *kong.Context, stdio *IO) {
	if g.JSON {
		g.Output = formatJSON
	}
	g.JSON = g.Output == formatJSON
	if g.NoColor || os.Getenv("NO_COLOR") != "" || g.structured() {
		stdio.Color = false
	}
	g.given = map[string]bool{}
	for _, p := range kctx.Path {
		if p.Flag != nil && !p.Resolved {
			g.given[p.Flag.Name] = true
		}
	}
}

// preScanOutput finds the output format before parsing, so that usage errors come as a
// document too.
func preScanOutput(args []string) string {
	for i, a := range args {
		switch {
		case a == "--":
			return ""
		case a == "--json" || a == "--json=true":
			return formatJSON
		case (a == "-o" || a == "--output") && i+1 < len(args):
			return structuredOnly(args[i+1])
		case strings.HasPrefix(a, "--output="):
			return structuredOnly(strings.TrimPrefix(a, "--output="))
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			return structuredOnly(strings.TrimPrefix(strings.TrimPrefix(a, "-o"), "="))
		}
	}
	return ""
}

func structuredOnly(f string) string {
	if f == formatJSON || f == formatYAML {
		return f
	}
	return ""
}

// bareGroup returns the parse context of a command line that names a group of commands
// (or nothing) and stops there: its help is the answer.
func bareGroup(err error) *kong.Context {
	var pe *kong.ParseError
	if !errors.As(err, &pe) || pe.Context == nil || pe.Context.Error != nil {
		return nil
	}
	node := pe.Context.Selected()
	if node == nil {
		node = pe.Context.Model.Node
	}
	for _, c := range node.Children {
		if c.Type == kong.CommandNode {
			return pe.Context
		}
	}
	return nil
}

// usageError turns a parse error into an invalid_request error that says where to look.
func usageError(err error) error {
	msg := err.Error()
	var pe *kong.ParseError
	if errors.As(err, &pe) && pe.Context != nil {
		path := "gaib"
		if n := pe.Context.Selected(); n != nil {
			path = commandPath(n)
		}
		msg += fmt.Sprintf("\nRun `%s --help` for usage.", path)
	}
	return sandbox.Errorf(sandbox.CodeInvalidRequest, "%s", msg)
}

// finish turns a command's result into the exit code, printing the error.
func (g *Globals) finish(ctx context.Context, stdio *IO, err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return sandbox.ExitOK
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(stdio.Stderr, cleanLines(ee.msg))
		}
		return ee.code
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		// Ctrl-C during a request: the mesh may still finish it.
		fmt.Fprintln(stdio.Stderr, "gaib: interrupted (the mesh may still finish what was asked)")
		return ExitInterrupted
	}
	return g.report(stdio, err)
}

// report prints err (as an error document on stdout for -o json|yaml, else on stderr)
// and returns its exit code.
func (g *Globals) report(stdio *IO, err error) int {
	e := sandbox.AsError(err)
	if g.structured() {
		_ = g.document(stdio.Stdout, sandbox.ErrorBody{Error: e})
	} else {
		fmt.Fprintf(stdio.Stderr, "gaib: %s\n", cleanLines(e.Message))
	}
	return e.Code.ExitCode()
}

// commandPath is a command's name as typed: gaib sandbox create.
func commandPath(n *kong.Node) string {
	var parts []string
	for ; n != nil; n = n.Parent {
		parts = append([]string{n.Name}, parts...)
	}
	return strings.Join(parts, " ")
}
