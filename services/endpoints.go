package services

import (
	"errors"
	"github.com/nats-io/nats.go"

	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/sandbox"
)

// Version is the version every gaib micro service advertises.
var Version = "0.2.0"

// endpoint describes one endpoint for registration and for `nats micro info`.
type endpoint struct {
	op, description, request, response string
	handler                            micro.Handler
	// everyInstance makes every instance answer (no queue group): router stats and sync.
	everyInstance bool
}

// addService registers a micro service whose endpoints listen on
// gaib.<service>.<op>.* (the last token is the caller).
func addService(nc *nats.Conn, service, description string, onError func(*micro.NATSError), eps ...endpoint) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name: service, Version: Version, Description: description,
		ErrorHandler: func(_ micro.Service, e *micro.NATSError) {
			if onError != nil {
				onError(e)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, ep := range eps {
		opts := []micro.EndpointOpt{
			micro.WithEndpointSubject(sandbox.EndpointSubject(service, ep.op)),
			micro.WithEndpointMetadata(map[string]string{
				"description": ep.description,
				"request":     ep.request + " (JSON); the caller is the last subject token, checked by NATS",
				"response":    ep.response + " (JSON); errors: Nats-Service-Error-Code header + {\"error\":{code,message}}",
			}),
		}
		if ep.everyInstance {
			opts = append(opts, micro.WithEndpointQueueGroupDisabled())
		}
		errs = append(errs, svc.AddEndpoint(ep.op, ep.handler, opts...))
	}
	if err := errors.Join(errs...); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	return svc, nil
}
