package cli

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// RunCmd is `gaib sandbox run NAME -- COMMAND [ARGS...]`.
type RunCmd struct {
	Name    string   `arg:"" help:"Sandbox name or id."`
	Command []string `arg:"" passthrough:"" help:"Command and arguments to run with the sandbox's environment."`
}

// Run runs the command with the sandbox's environment added to gaib's, forwards SIGINT,
// SIGTERM, SIGHUP and SIGQUIT to it, and exits with its exit code.
func (c *RunCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	args := c.Command
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return sandbox.Errorf(sandbox.CodeInvalidRequest, "no command given: gaib sandbox run %s -- COMMAND [ARGS...]", c.Name)
	}
	// The credential lives in a private temporary directory for as long as the command.
	tmp, err := os.MkdirTemp("", "gaib-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var env []string
	err = g.withClient(func(cl *client.Client) error {
		resp, err := cl.Connect(ctx, c.Name)
		if err != nil {
			return err
		}
		vars, err := sandboxEnv(resp, filepath.Join(tmp, "sandbox.creds"))
		env = envOf(vars)
		return err
	})
	if err != nil {
		return err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return sandbox.Errorf(sandbox.CodeInvalidRequest, "cannot run %q: %v", args[0], err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		return &exitError{code: code}
	}
	return err
}
