package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/arrakis/gaib/sandbox"
)

// CompletionCmd is `gaib completion SHELL`.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

// Help is the detailed help of `gaib completion`.
func (CompletionCmd) Help() string {
	return detail("The script completes commands, flags, their values and the names of your sandboxes (asking the mesh, for at most 2s).",
		`source <(gaib completion bash)              # bash, now; add it to ~/.bashrc to keep it`,
		`gaib completion zsh > "${fpath[1]}/_gaib"   # zsh`,
		`gaib completion fish > ~/.config/fish/completions/gaib.fish`)
}

// Completion scripts: each asks `gaib __complete -- WORDS... CURRENT` for the candidates,
// one a line.
const (
	bashCompletion = `# bash completion for gaib; load with: source <(gaib completion bash)
_gaib() {
  local IFS=$'\n'
  COMPREPLY=($(gaib __complete -- "${COMP_WORDS[@]:1:$COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _gaib gaib
`
	zshCompletion = `#compdef gaib
# zsh completion for gaib; install with: gaib completion zsh > "${fpath[1]}/_gaib"
_gaib() {
  local -a candidates
  candidates=("${(@f)$(gaib __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if (( ${#candidates[@]} )) && [[ -n "${candidates[1]}" ]]; then
    compadd -Q -- "${candidates[@]}"
  else
    _files
  fi
}
compdef _gaib gaib
`
	fishCompletion = `# fish completion for gaib; install with: gaib completion fish > ~/.config/fish/completions/gaib.fish
function __gaib_complete
    set -l words (commandline -opc)
    set -e words[1]
    gaib __complete -- $words (commandline -ct) 2>/dev/null
end
complete -c gaib -f -a '(__gaib_complete)'
`
)

// Run prints the script.
func (c *CompletionCmd) Run(o *IO) error {
	script := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}[c.Shell]
	_, err := fmt.Fprint(o.Stdout, script)
	return err
}

// CompleteCmd is the hidden `gaib __complete -- WORDS... CURRENT` the scripts call.
type CompleteCmd struct {
	Words []string `arg:"" optional:"" passthrough:"" help:"The words typed after gaib; the last one is being completed."`
}

// namesWait bounds how long completion waits for the mesh to list sandbox names.
const namesWait = 2 * time.Second

// Run prints the candidates for the last word, one a line.
func (c *CompleteCmd) Run(ctx context.Context, kctx *kong.Context, g *Globals, o *IO) error {
	words := c.Words
	if len(words) > 0 && words[0] == "--" {
		words = words[1:]
	}
	if len(words) == 0 {
		words = []string{""}
	}
	cur := words[len(words)-1]
	st := walk(kctx.Model.Node, words[:len(words)-1])
	var out []string
	switch {
	case st.dashDash:
	case st.help:
		for _, child := range st.node.Children {
			if child.Type == kong.CommandNode && !child.Hidden {
				out = append(out, child.Name)
			}
		}
	case st.pending != nil:
		out = st.pending.EnumSlice()
	case strings.HasPrefix(cur, "-"):
		for _, level := range st.node.AllFlags(true) {
			for _, f := range level {
				out = append(out, "--"+f.Name)
			}
		}
	default:
		for _, child := range st.node.Children {
			if child.Type == kong.CommandNode && !child.Hidden && st.positional == 0 {
				out = append(out, child.Name)
			}
		}
		if st.positional < len(st.node.Positional) {
			out = append(out, c.values(ctx, g, st, st.node.Positional[st.positional])...)
		}
	}
	for _, w := range out {
		if strings.HasPrefix(w, cur) && w != "" {
			fmt.Fprintln(o.Stdout, w)
		}
	}
	return nil
}

// completionState is where a partial command line stands.
type completionState struct {
	node *kong.Node
	// positional is how many positional arguments of node were typed.
	positional int
	// pending is the flag whose value is being typed.
	pending *kong.Flag
	// dashDash: after `--` (sandbox run's command): the shell completes files.
	dashDash bool
	// help: after `gaib help`, words name a command.
	help bool
	// globals are the connection flags typed, for asking the mesh.
	globals map[string]string
}

// walk follows words through the command tree.
func walk(root *kong.Node, words []string) completionState {
	st := completionState{node: root, globals: map[string]string{}}
	for _, w := range words {
		switch {
		case st.pending != nil:
			st.globals[st.pending.Name] = w
			st.pending = nil
		case st.dashDash:
		case w == "--":
			st.dashDash = true
		case strings.HasPrefix(w, "-") && len(w) > 1:
			name, value, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
			f := findFlag(st.node, name, !strings.HasPrefix(w, "--"))
			switch {
			case f == nil || f.IsBool() || f.IsCounter():
			case hasValue:
				st.globals[f.Name] = value
			default:
				st.pending = f
			}
		default:
			child := childNamed(st.node, w)
			switch {
			case child != nil && child.Name == "help" && st.node.Parent == nil:
				st.help = true
			case child != nil && st.positional == 0:
				st.node = child
			default:
				st.positional++
			}
		}
	}
	return st
}

func findFlag(node *kong.Node, name string, short bool) *kong.Flag {
	for _, level := range node.AllFlags(false) {
		for _, f := range level {
			if (short && len(name) == 1 && f.Short == rune(name[0])) || (!short && (f.Name == name || slices.Contains(f.Aliases, name))) {
				return f
			}
		}
	}
	return nil
}

func childNamed(node *kong.Node, name string) *kong.Node {
	for _, c := range node.Children {
		if c.Type == kong.CommandNode && (c.Name == name || slices.Contains(c.Aliases, name)) {
			return c
		}
	}
	return nil
}

// values are the candidates of a positional argument: enums, command names for `help`,
// and the sandboxes the mesh lists for an existing sandbox's name.
func (c *CompleteCmd) values(ctx context.Context, g *Globals, st completionState, arg *kong.Positional) []string {
	if vals := arg.EnumSlice(); arg.Enum != "" {
		return vals
	}
	node := st.node
	if node.Parent == nil || node.Parent.Name != "sandbox" || arg.Name != "name" || node.Name == "create" {
		return nil
	}
	q := *g
	q.Timeout = namesWait
	for flag, v := range st.globals {
		switch flag {
		case "server":
			q.Server = v
		case "creds":
			q.Creds = v
		case "context":
			q.Context = v
		}
	}
	cl, err := q.dial()
	if err != nil {
		return nil
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, namesWait)
	defer cancel()
	rs, err := cl.List(ctx, sandbox.ListRequest{})
	if err != nil {
		return nil
	}
	var names []string
	for _, r := range rs {
		names = append(names, clean(r.Name))
	}
	return names
}
