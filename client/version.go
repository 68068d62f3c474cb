package client

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go/micro"
)

// ServiceVersion asks one instance of a gaib micro service for the version it advertises
// (the standard micro discovery request, which every identity may send).
func (c *Client) ServiceVersion(ctx context.Context, service string) (string, error) {
	subject, err := micro.ControlSubject(micro.InfoVerb, service, "")
	if err != nil {
		return "", err
	}
	msg, err := c.nc.RequestWithContext(ctx, subject, nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", subject, err)
	}
	var info micro.Info
	if err := json.Unmarshal(msg.Data, &info); err != nil {
		return "", fmt.Errorf("%s: %w", subject, err)
	}
	return info.Version, nil
}
