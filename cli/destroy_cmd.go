package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// DestroyCmd is `gaib sandbox destroy`.
type DestroyCmd struct {
	Name string `arg:"" help:"Sandbox name or id (a destroyed sandbox is found by its old name too)."`
	Yes  bool   `short:"y" help:"Do not ask for confirmation (required when stdin is not a terminal)."`
}

// Help is the detailed help of `gaib sandbox destroy`.
func (DestroyCmd) Help() string {
	return detail("Destroy removes the guild routes first, then the credential, the Redis user and keys, the schema and role and the event stream, and frees the name. "+
		"Destroying a destroyed sandbox succeeds and says so. On a terminal it asks first: n leaves it (exit 1), Ctrl-C too (exit 130).",
		"gaib sandbox destroy demo",
		"gaib sandbox rm demo --yes",
		"gaib sandbox delete k3x9q2m7pa -y   # by id")
}

// Run destroys the sandbox after confirmation.
func (c *DestroyCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		if !c.Yes && !o.StdinIsTerminal {
			return sandbox.Errorf(sandbox.CodeInvalidRequest, "refusing to destroy %q without --yes: stdin is not a terminal", c.Name)
		}
		st, err := cl.Get(ctx, c.Name)
		if err != nil {
			return err
		}
		if st.Status == sandbox.StatusDestroyed {
			return g.out(o, st.Record, st.ID, func() {
				writeLine(o.Stdout, "Sandbox %s (id %s) was already destroyed %s; nothing to do.", st.Name, st.ID, relative(destroyedAt(st.Record), time.Now()))
			})
		}
		if !c.Yes {
			question := fmt.Sprintf("Destroy sandbox %s (id %s, owner %s) and all its data? [y/N] ", clean(st.Name), st.ID, clean(st.Owner))
			yes, err := confirm(ctx, o, question)
			if err != nil {
				return err
			}
			if !yes {
				return &exitError{code: sandbox.ExitFailure, msg: "Not destroyed."}
			}
		}
		rec, err := cl.Destroy(ctx, st.ID)
		if err != nil {
			return err
		}
		return g.out(o, rec, rec.ID, func() {
			writeLine(o.Stdout, "Destroyed sandbox %s (id %s).", rec.Name, rec.ID)
		})
	})
}

func destroyedAt(r sandbox.Record) time.Time {
	if r.DestroyedAt != nil {
		return *r.DestroyedAt
	}
	return r.UpdatedAt
}

// confirm asks question on stderr and reads the answer. Ctrl-C (ctx ending) or the end of
// input while it waits ends the command with exit 130 and nothing changed; it never leaves
// a reader behind that would take what is typed next as the answer.
func confirm(ctx context.Context, o *IO, question string) (bool, error) {
	fmt.Fprint(o.Stderr, question)
	answers := make(chan string, 1)
	go func() {
		line, err := bufio.NewReader(o.Stdin).ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			close(answers)
			return
		}
		answers <- line
	}()
	select {
	case <-ctx.Done():
	case line, ok := <-answers:
		if ok {
			a := strings.ToLower(strings.TrimSpace(line))
			return a == "y" || a == "yes", nil
		}
	}
	fmt.Fprintln(o.Stderr)
	return false, &exitError{code: ExitInterrupted, msg: "Interrupted: nothing was changed."}
}
