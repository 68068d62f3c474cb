package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/sandbox"
)

// pingTimeout bounds the wait for one service's answer to a readiness ping.
const pingTimeout = 2 * time.Second

type healthBody struct {
	Status string `json:"status" example:"ok" doc:"ok: the process answers."`
}

type healthOutput struct{ Body healthBody }

type readyBody struct {
	Status   string            `json:"status" example:"ready" doc:"ready: NATS is connected and every service answers."`
	NATS     string            `json:"nats" example:"connected" doc:"The API's NATS connection state."`
	Services map[string]string `json:"services" example:"{\"sandbox\":\"ok\",\"user\":\"ok\",\"guild\":\"ok\",\"router\":\"ok\",\"cleanup\":\"ok\"}" doc:"Each micro service: ok, or why not."`
}

type readyOutput struct{ Body readyBody }

func (s *Server) registerHealth() {
	huma.Register(s.api, huma.Operation{OperationID: "healthz", Method: http.MethodGet, Path: "/healthz", Tags: []string{"health"},
		Summary: "The process is alive", Description: "Answers 200 while the process runs; asks nothing of the mesh."}, s.healthz)
	huma.Register(s.api, huma.Operation{OperationID: "readyz", Method: http.MethodGet, Path: "/readyz", Tags: []string{"health"},
		Summary: "The mesh answers", Description: "200 when NATS is connected and every micro service (sandbox, user, guild, router, cleanup) answers a ping; else 503 naming what does not.",
		Errors: []int{http.StatusServiceUnavailable}}, s.readyz)
}

func (s *Server) healthz(context.Context, *struct{}) (*healthOutput, error) {
	return &healthOutput{Body: healthBody{Status: "ok"}}, nil
}

// readyz pings every service ($SRV.PING.<name>, any instance answers) in parallel.
func (s *Server) readyz(ctx context.Context, _ *struct{}) (*readyOutput, error) {
	out := readyBody{Status: "ready", NATS: strings.ToLower(s.cfg.Conn.Status().String()), Services: map[string]string{}}
	if !s.cfg.Conn.IsConnected() {
		return nil, sandbox.Errorf(sandbox.CodeUnavailable, "not ready: the API's NATS connection is %s", out.NATS)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range sandbox.Services {
		wg.Go(func() {
			state := "ok"
			if err := s.ping(ctx, name); err != nil {
				state = err.Error()
			}
			mu.Lock()
			out.Services[name] = state
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, name := range sandbox.Services {
		if out.Services[name] != "ok" {
			return nil, sandbox.Errorf(sandbox.CodeUnavailable, "not ready: service %s: %s", name, out.Services[name])
		}
	}
	return &readyOutput{Body: out}, nil
}

func (s *Server) ping(ctx context.Context, service string) error {
	subject, err := micro.ControlSubject(micro.PingVerb, service, "")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	_, err = s.cfg.Conn.RequestWithContext(ctx, subject, nil)
	return err
}
