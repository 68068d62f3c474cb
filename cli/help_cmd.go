package cli

import (
	"strings"

	"github.com/alecthomas/kong"
)

// HelpCmd is `gaib help [COMMAND...]`.
type HelpCmd struct {
	Command []string `arg:"" optional:"" help:"The command to explain, e.g. sandbox create."`
}

// Help is the detailed help of `gaib help`.
func (HelpCmd) Help() string {
	return examples("gaib help", "gaib help sandbox", "gaib help sandbox create")
}

// Run prints the help of the command named (of gaib itself without one), exactly as
// COMMAND --help does.
func (c *HelpCmd) Run(kctx *kong.Context) error {
	_, err := kctx.Kong.Parse(append(append([]string{}, c.Command...), "--help"))
	if err != nil {
		return usageError(err)
	}
	return nil
}

// examples formats a command's examples for its help (kong shows indented lines as they
// are).
func examples(lines ...string) string {
	return detail("", lines...)
}

// detail formats a command's longer description followed by its examples.
func detail(text string, lines ...string) string {
	var b strings.Builder
	if text != "" {
		b.WriteString(text + "\n\n")
	}
	b.WriteString("Examples:\n\n")
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}
