package cli

import (
	"context"
	"fmt"

	"github.com/arrakis/gaib/services"
)

// VersionCmd is `gaib version`.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run(_ context.Context, g *Globals, o *IO) error {
	if g.JSON {
		return writeJSON(o.Stdout, map[string]string{"version": services.Version})
	}
	fmt.Fprintln(o.Stdout, "gaib", services.Version)
	return nil
}
