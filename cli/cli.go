package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"github.com/arrakis/gaib/sandbox"
)

// Globals are the flags every command takes.
type Globals struct {
	Server  string        `short:"s" env:"NATS_URL" placeholder:"URL" help:"NATS URL of the gaib mesh (default nats://127.0.0.1:4222; for serve: use this NATS instead of an embedded one)."`
	Creds   string        `env:"NATS_CREDS" placeholder:"FILE" help:"Your gaib credential (a NATS .creds file; default ~/.config/gaib/local.creds, which gaib serve writes for its local admin)."`
	Context string        `name:"context" placeholder:"NAME" help:"NATS CLI context to take the server URL and credentials from."`
	Timeout time.Duration `default:"30s" help:"How long to wait for the mesh to answer."`
	JSON    bool          `name:"json" help:"Print exactly one JSON document on stdout (errors too)."`
	Quiet   bool          `short:"q" help:"Print only what scripts need."`
	NoColor bool          `name:"no-color" help:"No colors (also when NO_COLOR is set)."`
}

// CLI is the root of the command tree.
type CLI struct {
	Globals

	Serve   ServeCmd   `cmd:"" help:"Run the gaib mesh: every service, the router and the cleanup (embedded NATS unless --server)."`
	Sandbox SandboxCmd `cmd:"" aliases:"sb" help:"Create, inspect, connect to and destroy sandboxes."`
	Router  RouterCmd  `cmd:"" help:"Inspect the event router."`
	Events  EventsCmd  `cmd:"" help:"Developer tools for gateway events."`
	Cleanup CleanupCmd `cmd:"" help:"Run the cleanup now and find orphaned resources."`
	User    UserCmd    `cmd:"" help:"Manage identities and their credentials (admins)."`
	Guild   GuildCmd   `cmd:"" help:"The allow-list of test guilds that may be routed to sandboxes."`
	Version VersionCmd `cmd:"" help:"Print the version."`
}

// SandboxCmd groups the sandbox commands.
type SandboxCmd struct {
	Create     CreateCmd     `cmd:"" aliases:"new" help:"Create a sandbox."`
	List       ListCmd       `cmd:"" aliases:"ls" help:"List sandboxes."`
	Status     StatusCmd     `cmd:"" aliases:"get" help:"Show a sandbox, with a live health check per plane."`
	Destroy    DestroyCmd    `cmd:"" aliases:"rm" help:"Destroy a sandbox and everything it owns."`
	Extend     ExtendCmd     `cmd:"" help:"Give a sandbox more time."`
	Connect    ConnectCmd    `cmd:"" aliases:"env" help:"Print shell exports to use a sandbox: eval \"$$(gaib sandbox connect NAME)\"."`
	Run        RunCmd        `cmd:"" help:"Run a command with a sandbox's environment."`
	Register   RegisterCmd   `cmd:"" name:"register-guild" aliases:"link" help:"Route a Discord guild's events to a sandbox."`
	Unregister UnregisterCmd `cmd:"" name:"unregister-guild" aliases:"unlink" help:"Send a guild's events back to production."`
	Events     TailCmd       `cmd:"" help:"Tail the events routed to a sandbox, live."`
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
	// Color enables ANSI colors on Stdout.
	Color bool
}

// StdIO is the process's standard streams.
func StdIO() *IO {
	return &IO{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		StdinIsTerminal: term.IsTerminal(int(os.Stdin.Fd())),
		Color:           term.IsTerminal(int(os.Stdout.Fd())) && os.Getenv("NO_COLOR") == "",
	}
}

// exitPanic carries kong's exit code (after --help) out of Parse without os.Exit.
type exitPanic struct{ code int }

// Parser returns the kong parser for the gaib command tree.
func Parser(cli *CLI, stdio *IO, options ...kong.Option) (*kong.Kong, error) {
	options = append([]kong.Option{
		kong.Name("gaib"),
		kong.Description("Discord server sandboxes for the Arrakis bot, on a NATS micro-services mesh."),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Writers(stdio.Stdout, stdio.Stderr),
	}, options...)
	return kong.New(cli, options...)
}

// Main runs gaib with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdio *IO) (code int) {
	var cli CLI
	jsonMode := wantsJSON(args)
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
	if err != nil {
		return report(stdio, jsonMode, sandbox.Errorf(sandbox.CodeInvalidRequest, "%v", err))
	}
	if cli.NoColor || os.Getenv("NO_COLOR") != "" || cli.JSON {
		stdio.Color = false
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	err = kctx.Run(&cli.Globals, stdio)
	if err != nil {
		return report(stdio, cli.JSON, err)
	}
	return sandbox.ExitOK
}

// wantsJSON looks for --json before parsing, so that parse errors are JSON too.
func wantsJSON(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--json" || a == "--json=true" {
			return true
		}
	}
	return false
}

// report prints err (as {"error":…} on stdout in JSON mode, else on stderr) and returns
// its exit code.
func report(stdio *IO, jsonMode bool, err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	e := sandbox.AsError(err)
	if jsonMode {
		_ = writeJSON(stdio.Stdout, sandbox.ErrorBody{Error: e})
	} else {
		fmt.Fprintf(stdio.Stderr, "gaib: %s\n", e.Message)
	}
	return e.Code.ExitCode()
}

// exitError ends a command with a given exit code and nothing more to say (`run` passes
// its child's code through).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
