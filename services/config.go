package services

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// Audit actions of config changes.
const (
	actionConfigSet   = "config-set"
	actionConfigUnset = "config-unset"
)

// ConfigSet sets keys of a running sandbox's config (owner or admin), records the change in
// the audit trail (secret values redacted) and tells the sandbox's workers on its
// namespace. Setting a key to what it is already is no change.
func (s *Sandboxes) ConfigSet(ctx context.Context, c Caller, req sandbox.ConfigSetRequest) (sandbox.ConfigResponse, error) {
	if len(req.Vars) == 0 {
		return sandbox.ConfigResponse{}, sandbox.Errorf(sandbox.CodeInvalidRequest, "no config keys given: KEY=VALUE…")
	}
	if err := sandbox.ValidateConfigVars(req.Vars); err != nil {
		return sandbox.ConfigResponse{}, err
	}
	return s.changeConfig(ctx, c, req.Sandbox, actionConfigSet, func(cfg *sandbox.Config) ([]sandbox.ConfigChange, error) {
		return cfg.Set(req.Vars)
	})
}

// ConfigUnset removes keys of a running sandbox's config (owner or admin); keys that are not
// set are no error (Changed says which were).
func (s *Sandboxes) ConfigUnset(ctx context.Context, c Caller, req sandbox.ConfigUnsetRequest) (sandbox.ConfigResponse, error) {
	if len(req.Keys) == 0 {
		return sandbox.ConfigResponse{}, sandbox.Errorf(sandbox.CodeInvalidRequest, "no config keys given")
	}
	if len(req.Keys) > sandbox.MaxConfigKeys {
		return sandbox.ConfigResponse{}, sandbox.Errorf(sandbox.CodeConfigTooLarge, "%d keys given; a sandbox has at most %d", len(req.Keys), sandbox.MaxConfigKeys)
	}
	for _, k := range req.Keys {
		if err := sandbox.ValidateConfigKey(k); err != nil {
			return sandbox.ConfigResponse{}, err
		}
	}
	return s.changeConfig(ctx, c, req.Sandbox, actionConfigUnset, func(cfg *sandbox.Config) ([]sandbox.ConfigChange, error) {
		return cfg.Unset(req.Keys), nil
	})
}

// ConfigList returns a sandbox's config (owner or admin), secret values redacted unless
// ShowSecrets. A destroyed sandbox (by id) has none.
func (s *Sandboxes) ConfigList(ctx context.Context, c Caller, req sandbox.ConfigListRequest) (sandbox.ConfigResponse, error) {
	rec, cfg, err := s.readConfig(ctx, c, req.Sandbox)
	if err != nil {
		return sandbox.ConfigResponse{}, err
	}
	return configResponse(rec, cfg, req.ShowSecrets, nil), nil
}

// ConfigGet returns one key of a sandbox's config (owner or admin), its value redacted when
// it is secret unless ShowSecrets; a key that is not set is not_found.
func (s *Sandboxes) ConfigGet(ctx context.Context, c Caller, req sandbox.ConfigGetRequest) (sandbox.ConfigVar, error) {
	if err := sandbox.ValidateConfigKey(req.Key); err != nil {
		return sandbox.ConfigVar{}, err
	}
	rec, cfg, err := s.readConfig(ctx, c, req.Sandbox)
	if err != nil {
		return sandbox.ConfigVar{}, err
	}
	v, ok := cfg.Get(req.Key)
	if !ok {
		return sandbox.ConfigVar{}, sandbox.Errorf(sandbox.CodeNotFound, "sandbox %q has no config key %s", rec.Name, req.Key)
	}
	return v.Redact(req.ShowSecrets), nil
}

func (s *Sandboxes) readConfig(ctx context.Context, c Caller, ref string) (sandbox.Record, sandbox.Config, error) {
	rec, err := s.Resolve(ctx, ref)
	if err != nil {
		return rec, sandbox.Config{}, err
	}
	if err := authorize(c, rec, "read the config of"); err != nil {
		return rec, sandbox.Config{}, err
	}
	cfg, err := s.store.SandboxConfig(ctx, rec.ID)
	return rec, cfg, err
}

// changeConfig applies change to a running sandbox's config by compare-and-swap, then
// audits and announces what changed.
func (s *Sandboxes) changeConfig(ctx context.Context, c Caller, ref, action string,
	change func(*sandbox.Config) ([]sandbox.ConfigChange, error)) (sandbox.ConfigResponse, error) {
	rec, err := s.Resolve(ctx, ref)
	if err != nil {
		return sandbox.ConfigResponse{}, err
	}
	if err := authorize(c, rec, "configure"); err != nil {
		return sandbox.ConfigResponse{}, err
	}
	if rec.Status != sandbox.StatusRunning {
		// A change racing a destroy past this check is refused by the store instead (the
		// destroy's removal marker), or removed by the destroy.
		return sandbox.ConfigResponse{}, sandbox.Errorf(sandbox.CodeWrongState, "sandbox %q is %s; only a running sandbox's config can be changed", rec.Name, rec.Status)
	}
	var changes []sandbox.ConfigChange
	cfg, err := s.store.UpdateSandboxConfig(ctx, rec.ID, func(cfg *sandbox.Config) (bool, error) {
		var err error
		if changes, err = change(cfg); err != nil || len(changes) == 0 {
			return false, err
		}
		cfg.UpdatedAt, cfg.UpdatedBy = s.now(), c.Name
		return true, nil
	})
	if err != nil {
		return sandbox.ConfigResponse{}, err
	}
	if len(changes) > 0 {
		s.auditConfig(ctx, c.Name, action, rec.ID, changes)
		s.announceConfig(rec.ID, cfg, changes)
	}
	return configResponse(rec, cfg, false, sandbox.ConfigKeys(changes)), nil
}

// initConfig stores the config a create asks for (validated before) on the new sandbox and
// pushes its removal on undo.
func (s *Sandboxes) initConfig(ctx context.Context, id, actor string, vars []sandbox.ConfigVar, undo *undoStack) error {
	if len(vars) == 0 {
		return nil
	}
	undo.push(func(ctx context.Context) error { return s.store.DeleteSandboxConfig(ctx, id) })
	_, err := s.store.UpdateSandboxConfig(ctx, id, func(cfg *sandbox.Config) (bool, error) {
		_, err := cfg.Set(vars)
		cfg.UpdatedAt, cfg.UpdatedBy = s.now(), actor
		return true, err
	})
	return err
}

// auditCreatedConfig records the config a sandbox was created with, after its creation.
func (s *Sandboxes) auditCreatedConfig(ctx context.Context, actor, id string, vars []sandbox.ConfigVar) {
	var empty sandbox.Config
	if changes, err := empty.Set(vars); err == nil && len(changes) > 0 {
		s.auditConfig(ctx, actor, actionConfigSet, id, changes)
	}
}

// auditConfig records a config change: who, which keys, and values (secret ones redacted by
// sandbox.ConfigChange).
func (s *Sandboxes) auditConfig(ctx context.Context, actor, action, id string, changes []sandbox.ConfigChange) {
	parts := make([]string, len(changes))
	for i, ch := range changes {
		parts[i] = ch.String()
	}
	s.auditEntry(ctx, jetstream.AuditEntry{Actor: actor, Action: action, SandboxID: id,
		Config: changes, Detail: "config " + strings.Join(parts, " ")})
}

// announceConfig tells the sandbox's running workers on sandbox.<id>.config.changed: the
// whole new config, secret values included (only the sandbox's own credential and the mesh
// may subscribe there). A worker that misses it reads the config again on config.get.
func (s *Sandboxes) announceConfig(id string, cfg sandbox.Config, changes []sandbox.ConfigChange) {
	b, err := json.Marshal(workerConfig(cfg, sandbox.ConfigKeys(changes)))
	if err == nil {
		err = s.store.JetStream().Conn().Publish(sandbox.ConfigChangedSubject(id), b)
	}
	if err != nil {
		s.log.Warn("announce config change", "sandbox", id, "err", err)
	}
}

// configEnv is a sandbox's config as connect hands it to the worker.
func (s *Sandboxes) configEnv(ctx context.Context, id string) ([]sandbox.EnvVar, error) {
	cfg, err := s.store.SandboxConfig(ctx, id)
	if err != nil {
		return nil, err
	}
	return cfg.Env(), nil
}

func workerConfig(cfg sandbox.Config, changed []string) sandbox.WorkerConfig {
	return sandbox.WorkerConfig{SandboxID: cfg.SandboxID, Revision: cfg.Revision, Env: cfg.Env(), Changed: changed}
}

func configResponse(rec sandbox.Record, cfg sandbox.Config, show bool, changed []string) sandbox.ConfigResponse {
	return sandbox.ConfigResponse{SandboxID: rec.ID, Sandbox: rec.Name, Vars: cfg.Redacted(show),
		UpdatedAt: cfg.UpdatedAt, UpdatedBy: cfg.UpdatedBy, Changed: changed}
}
