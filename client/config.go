package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/sandbox"
)

// ConfigSet sets keys of a sandbox's config.
func (c *Client) ConfigSet(ctx context.Context, ref string, vars []sandbox.ConfigVar) (sandbox.ConfigResponse, error) {
	return Call[sandbox.ConfigResponse](ctx, c, sandbox.ServiceSandbox, sandbox.OpConfigSet, sandbox.ConfigSetRequest{Sandbox: ref, Vars: vars})
}

// ConfigUnset removes keys of a sandbox's config.
func (c *Client) ConfigUnset(ctx context.Context, ref string, keys []string) (sandbox.ConfigResponse, error) {
	return Call[sandbox.ConfigResponse](ctx, c, sandbox.ServiceSandbox, sandbox.OpConfigUnset, sandbox.ConfigUnsetRequest{Sandbox: ref, Keys: keys})
}

// ConfigGet returns one key of a sandbox's config; a secret value only when show.
func (c *Client) ConfigGet(ctx context.Context, ref, key string, show bool) (sandbox.ConfigVar, error) {
	return Call[sandbox.ConfigVar](ctx, c, sandbox.ServiceSandbox, sandbox.OpConfigGet, sandbox.ConfigGetRequest{Sandbox: ref, Key: key, ShowSecrets: show})
}

// ConfigList returns a sandbox's config; secret values only when show.
func (c *Client) ConfigList(ctx context.Context, ref string, show bool) (sandbox.ConfigResponse, error) {
	return Call[sandbox.ConfigResponse](ctx, c, sandbox.ServiceSandbox, sandbox.OpConfigList, sandbox.ConfigListRequest{Sandbox: ref, ShowSecrets: show})
}

// WorkerConfig asks the mesh for sandbox id's config the way its worker does: a request on
// sandbox.<id>.config.get over nc, a connection with the sandbox's own credential whose
// inbox prefix is the sandbox's (NATS_INBOX_PREFIX), as `gaib sandbox run` sets them up.
func WorkerConfig(ctx context.Context, nc *nats.Conn, id string) (sandbox.WorkerConfig, error) {
	msg, err := nc.RequestWithContext(ctx, sandbox.ConfigGetSubject(id), nil)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return sandbox.WorkerConfig{}, sandbox.Errorf(sandbox.CodeUnavailable, "no gaib mesh answers %s", sandbox.ConfigGetSubject(id))
		}
		return sandbox.WorkerConfig{}, err
	}
	return DecodeWorkerConfig(msg)
}

// DecodeWorkerConfig reads an answer on config.get or a notice on config.changed.
func DecodeWorkerConfig(msg *nats.Msg) (sandbox.WorkerConfig, error) {
	var wc sandbox.WorkerConfig
	if msg.Header.Get(micro.ErrorCodeHeader) != "" {
		var eb sandbox.ErrorBody
		if json.Unmarshal(msg.Data, &eb) == nil && eb.Error != nil {
			return wc, eb.Error
		}
		return wc, &sandbox.Error{Code: sandbox.Code(msg.Header.Get(micro.ErrorCodeHeader)), Message: msg.Header.Get(micro.ErrorHeader)}
	}
	if err := json.Unmarshal(msg.Data, &wc); err != nil {
		return wc, fmt.Errorf("%s: bad config document: %w", msg.Subject, err)
	}
	return wc, nil
}
