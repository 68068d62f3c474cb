package cli

import (
	"context"
	"time"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// VersionCmd is `gaib version` (and `gaib --version`).
type VersionCmd struct{}

// Help is the detailed help of `gaib version`.
func (VersionCmd) Help() string {
	return examples("gaib version", "gaib --version -o json")
}

// Run prints the version.
func (VersionCmd) Run(ctx context.Context, g *Globals, o *IO) error { return g.printVersion(ctx, o) }

// versionReport is what `gaib version` prints: the client's version and, when the mesh
// answers, the version its services advertise.
type versionReport struct {
	Version string       `json:"version"`
	Mesh    *meshVersion `json:"mesh,omitempty"`
}

type meshVersion struct {
	URL     string `json:"url"`
	Version string `json:"version,omitempty"`
	Error   string `json:"error,omitempty"`
}

// versionWait bounds how long --version waits for the mesh: it answers at once either way.
const versionWait = 3 * time.Second

func (g *Globals) printVersion(ctx context.Context, o *IO) error {
	rep := versionReport{Version: services.Version}
	quick := *g
	quick.Timeout = min(g.Timeout, versionWait)
	if cl, err := quick.dial(); err == nil {
		mv := &meshVersion{URL: cl.URL()}
		ctx, cancel := context.WithTimeout(ctx, versionWait)
		if v, err := cl.ServiceVersion(ctx, sandbox.ServiceSandbox); err == nil {
			mv.Version = v
		} else {
			mv.Error = err.Error()
		}
		cancel()
		cl.Close()
		rep.Mesh = mv
	} else {
		url, _, _ := g.connection()
		if url == "" {
			url = client.DefaultServer
		}
		rep.Mesh = &meshVersion{URL: url, Error: sandbox.AsError(err).Message}
	}
	return g.out(o, rep, rep.Version, func() {
		writeLine(o.Stdout, "gaib %s", rep.Version)
		if rep.Mesh.Version != "" {
			writeLine(o.Stdout, "mesh %s at %s", rep.Mesh.Version, rep.Mesh.URL)
		} else {
			writeLine(o.Stdout, "mesh unknown: %s", rep.Mesh.Error)
		}
	})
}
