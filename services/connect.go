package services

import (
	"context"
	"strings"

	"github.com/arrakis/gaib/sandbox"
)

// Connect returns the environment a bot worker needs to run inside a running sandbox:
// its names, the NATS namespace and every plane's connection settings.
func (s *Sandboxes) Connect(ctx context.Context, req sandbox.RefRequest) (sandbox.ConnectResponse, error) {
	rec, err := s.Resolve(ctx, req.Sandbox)
	if err != nil {
		return sandbox.ConnectResponse{}, err
	}
	if rec.Status != sandbox.StatusRunning {
		return sandbox.ConnectResponse{}, sandbox.Errorf(sandbox.CodeWrongState, "sandbox %q is %s; only a running sandbox can be connected to", rec.Name, rec.Status)
	}
	env := []sandbox.EnvVar{
		{Name: "SANDBOX_ID", Value: rec.ID},
		{Name: "SANDBOX_NAME", Value: rec.Name},
		{Name: "SANDBOX_NATS_PREFIX", Value: rec.Resources.NATSPrefix},
		{Name: "SANDBOX_GUILD_IDS", Value: strings.Join(rec.Guilds, ",")},
	}
	if s.cfg.NATSURL != "" {
		env = append(env, sandbox.EnvVar{Name: "NATS_URL", Value: s.cfg.NATSURL})
	}
	for _, p := range s.cfg.Planes {
		env = append(env, p.Env(rec)...)
	}
	return sandbox.ConnectResponse{Record: rec, Env: env}, nil
}
