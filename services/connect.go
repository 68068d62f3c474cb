package services

import (
	"context"
	"strings"

	"github.com/arrakis/gaib/sandbox"
)

// Connect returns what a bot worker needs to run inside a running sandbox (owner or
// admin): its names, every plane's connection settings, and its own NATS credential,
// confined to its namespace and expiring with the sandbox.
func (s *Sandboxes) Connect(ctx context.Context, c Caller, req sandbox.RefRequest) (sandbox.ConnectResponse, error) {
	rec, err := s.Resolve(ctx, req.Sandbox)
	if err != nil {
		return sandbox.ConnectResponse{}, err
	}
	if err := authorize(c, rec, "connect to"); err != nil {
		return sandbox.ConnectResponse{}, err
	}
	if rec.Status != sandbox.StatusRunning {
		return sandbox.ConnectResponse{}, sandbox.Errorf(sandbox.CodeWrongState, "sandbox %q is %s; only a running sandbox can be connected to", rec.Name, rec.Status)
	}
	env := []sandbox.EnvVar{
		{Name: "SANDBOX_ID", Value: rec.ID},
		{Name: "SANDBOX_NAME", Value: rec.Name},
		{Name: "SANDBOX_GUILD_IDS", Value: strings.Join(rec.Guilds, ",")},
	}
	if s.cfg.NATSURL != "" {
		env = append(env, sandbox.EnvVar{Name: "NATS_URL", Value: s.cfg.NATSURL})
	}
	out := sandbox.ConnectResponse{Record: rec}
	if s.cfg.Issuer != nil {
		creds, err := s.cfg.Issuer.Sandbox(rec.ID, rec.ExpiresAt)
		if err != nil {
			return sandbox.ConnectResponse{}, err
		}
		out.Credentials = string(creds)
		env = append(env, sandbox.EnvVar{Name: "NATS_INBOX_PREFIX", Value: sandbox.SandboxInbox(rec.ID)})
	}
	for _, p := range s.cfg.Planes {
		env = append(env, p.Env(rec)...)
	}
	out.Env = env
	if out.Config, err = s.configEnv(ctx, rec.ID); err != nil {
		return sandbox.ConnectResponse{}, err
	}
	return out, nil
}
