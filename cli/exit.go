package cli

import "fmt"

// Exit codes of the CLI beyond those of the error codes (sandbox.Exit*), documented in the
// README.
const (
	// ExitUnhealthy: `sandbox status` found a plane of the sandbox unhealthy (the report
	// is printed in full).
	ExitUnhealthy = 7
	// ExitCannotRun: `sandbox run` found the command but could not execute it (permission,
	// not an executable).
	ExitCannotRun = 126
	// ExitCommandNotFound: `sandbox run` found no such command.
	ExitCommandNotFound = 127
	// ExitInterrupted: Ctrl-C at a prompt (nothing changed) or during a request.
	ExitInterrupted = 130
)

// exitError ends a command with a given exit code; msg, when set, is printed on stderr as
// is (`run` passes its child's code through with none).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("exit status %d", e.code)
}
