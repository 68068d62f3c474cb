package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/arrakis/gaib/sandbox"
)

// ConfigKeyPath names one key of a sandbox's config.
type ConfigKeyPath struct {
	Name string `path:"name" example:"demo" doc:"The sandbox's name or id."`
	Key  string `path:"key" example:"LOG_LEVEL" doc:"An environment variable name: upper-case letters, digits and _, at most 64 characters."`
}

type configListInput struct {
	SandboxPath
	ShowSecrets bool `query:"show_secrets" doc:"Show the values of secret keys."`
}

type configGetInput struct {
	ConfigKeyPath
	ShowSecrets bool `query:"show_secrets" doc:"Show the value even if the key is secret."`
}

type configSetInput struct {
	SandboxPath
	Body struct {
		Vars []sandbox.ConfigVar `json:"vars" doc:"Keys to set, each with its value and whether it is secret."`
	}
}

type configSetKeyInput struct {
	ConfigKeyPath
	Body struct {
		Value  string `json:"value" example:"debug" doc:"At most 4 KiB of UTF-8, no control characters but tab and line breaks."`
		Secret bool   `json:"secret,omitempty" doc:"Redact the value in answers and the audit trail."`
	}
}

type configOutput struct {
	CacheControl string `header:"Cache-Control" doc:"no-store: the answer may hold secret values."`
	Body         sandbox.ConfigResponse
}

type configVarOutput struct {
	CacheControl string `header:"Cache-Control" doc:"no-store: the answer may hold a secret value."`
	Body         sandbox.ConfigVar
}

func (s *Server) registerConfig() {
	const tag = "sandboxes"
	errs := []int{http.StatusConflict, http.StatusNotFound}
	huma.Register(s.api, operation("list-config", http.MethodGet, "/v1/sandboxes/{name}/config", tag, "A sandbox's config",
		"The environment variables its worker gets (owner or admin), sorted by key; secret values redacted unless show_secrets.",
		http.StatusNotFound), s.listConfig)
	huma.Register(s.api, operation("set-config", http.MethodPut, "/v1/sandboxes/{name}/config", tag, "Set keys of a sandbox's config",
		"Owner or admin, running sandboxes. Keys are environment variable names that gaib does not set itself and that do not change how a shell or program behaves (PATH, HOME, LD_*, …); "+
			"at most 64 keys and 32 KiB. Running workers are told on sandbox.<id>.config.changed; the audit trail records the change, secret values redacted.",
		errs...), s.setConfig)
	huma.Register(s.api, operation("get-config-key", http.MethodGet, "/v1/sandboxes/{name}/config/{key}", tag, "One key of a sandbox's config",
		"Owner or admin; a secret value is redacted unless show_secrets.", http.StatusNotFound), s.getConfigKey)
	huma.Register(s.api, operation("set-config-key", http.MethodPut, "/v1/sandboxes/{name}/config/{key}", tag, "Set one key of a sandbox's config",
		"As PUT /v1/sandboxes/{name}/config for one key.", errs...), s.setConfigKey)
	huma.Register(s.api, operation("unset-config-key", http.MethodDelete, "/v1/sandboxes/{name}/config/{key}", tag, "Remove one key of a sandbox's config",
		"Owner or admin, running sandboxes. Removing a key that is not set changes nothing (changed is empty).", errs...), s.unsetConfigKey)
}

func (s *Server) listConfig(ctx context.Context, in *configListInput) (*configOutput, error) {
	r, err := s.as(ctx).ConfigList(ctx, in.Name, in.ShowSecrets)
	return &configOutput{CacheControl: "no-store", Body: r}, err
}

func (s *Server) setConfig(ctx context.Context, in *configSetInput) (*configOutput, error) {
	r, err := s.as(ctx).ConfigSet(ctx, in.Name, in.Body.Vars)
	return &configOutput{CacheControl: "no-store", Body: r}, err
}

func (s *Server) getConfigKey(ctx context.Context, in *configGetInput) (*configVarOutput, error) {
	r, err := s.as(ctx).ConfigGet(ctx, in.Name, in.Key, in.ShowSecrets)
	return &configVarOutput{CacheControl: "no-store", Body: r}, err
}

func (s *Server) setConfigKey(ctx context.Context, in *configSetKeyInput) (*configOutput, error) {
	v := sandbox.ConfigVar{Key: in.Key, Value: in.Body.Value, Secret: in.Body.Secret}
	r, err := s.as(ctx).ConfigSet(ctx, in.Name, []sandbox.ConfigVar{v})
	return &configOutput{CacheControl: "no-store", Body: r}, err
}

func (s *Server) unsetConfigKey(ctx context.Context, in *ConfigKeyPath) (*configOutput, error) {
	r, err := s.as(ctx).ConfigUnset(ctx, in.Name, []string{in.Key})
	return &configOutput{CacheControl: "no-store", Body: r}, err
}
