package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// RunCmd is `gaib sandbox run NAME -- COMMAND [ARGS...]`.
type RunCmd struct {
	Name    string   `arg:"" help:"Sandbox name or id."`
	Command []string `arg:"" passthrough:"" help:"Command and arguments to run with the sandbox's environment."`
}

// Help is the detailed help of `gaib sandbox run`.
func (RunCmd) Help() string {
	return detail("The command gets the sandbox's variables (as connect prints them) on top of gaib's environment, and its credential in a private file "+
		"that is removed when it ends. Signals are passed on; gaib exits with the command's code (128+N when a signal ended it), "+
		"127 when there is no such command, 126 when it cannot be executed.",
		"gaib sandbox run demo -- bot-worker",
		`gaib sandbox run demo -- sh -c 'psql "$DATABASE_URL" -c "select 1"'`,
		"gaib sandbox run demo -- env")
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
	path, err := lookCommand(args[0])
	if err != nil {
		return err
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
	cmd := exec.Command(path, args[1:]...)
	cmd.Args[0] = args[0]
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return &exitError{code: ExitCannotRun, msg: fmt.Sprintf("gaib: cannot run %s: %v", clean(args[0]), err)}
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

// lookCommand finds the command to run as a shell would, before anything is asked of the
// mesh: 127 when there is none, 126 when it is there but cannot be executed.
func lookCommand(name string) (string, error) {
	path, err := exec.LookPath(name)
	switch {
	case err == nil:
		return path, nil
	case errors.Is(err, exec.ErrNotFound) && !strings.Contains(name, "/"):
		return "", &exitError{code: ExitCommandNotFound, msg: fmt.Sprintf("gaib: %s: command not found", clean(name))}
	case errors.Is(err, fs.ErrNotExist):
		return "", &exitError{code: ExitCommandNotFound, msg: fmt.Sprintf("gaib: %s: no such file", clean(name))}
	}
	return "", &exitError{code: ExitCannotRun, msg: fmt.Sprintf("gaib: cannot run %s: %v", clean(name), err)}
}
