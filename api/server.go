package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// Version is the version of the REST API in its OpenAPI document.
var Version = "1.0.0"

// Paths of the document and the viewer that huma serves itself (they are not operations).
const (
	OpenAPIPath = "/v1/openapi" // .json, .yaml, -3.0.json, -3.0.yaml
	DocsPath    = "/v1/docs"
)

// Config configures the REST API.
type Config struct {
	// Conn is the API's own NATS connection with the mesh's credential, which may call the
	// services as any identity (required).
	Conn *nats.Conn
	// Timeout bounds each call to the services. Default 60s.
	Timeout time.Duration
	// Insecure maps requests without a bearer token to LocalAdmin. Listen refuses it on
	// anything but a loopback address.
	Insecure bool
	// LocalAdmin is the identity Insecure acts as.
	LocalAdmin string
	// MaxStreams bounds the event and watch streams open at once (default 256),
	// MaxStreamsPerIdentity those of one identity (default 8).
	MaxStreams, MaxStreamsPerIdentity int
	// Log receives the API's logs. Default: none.
	Log *slog.Logger
}

// Route is one route the API answers, as registered with the HTTP router.
type Route struct {
	Method, Path string
}

// Server is the REST API: an http.Handler over the mesh's services.
type Server struct {
	cfg     Config
	api     huma.API
	mux     *http.ServeMux
	routes  []Route
	streams *streamLimit
}

// New builds the API on cfg.Conn.
func New(cfg Config) (*Server, error) {
	if cfg.Conn == nil {
		return nil, errors.New("api: no NATS connection")
	}
	if cfg.Insecure && sandbox.ValidateIdentity(cfg.LocalAdmin) != nil {
		return nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "--http-insecure acts as the local admin, and there is none (serve --admin-creds -?)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 256
	}
	if cfg.MaxStreamsPerIdentity <= 0 {
		cfg.MaxStreamsPerIdentity = 8
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), streams: newStreamLimit(cfg.MaxStreams, cfg.MaxStreamsPerIdentity)}
	s.api = huma.NewAPI(s.config(), recorder{humago.NewAdapter(s.mux, ""), &s.routes})
	s.api.UseMiddleware(s.authenticate)
	s.registerHealth()
	s.registerSandboxes()
	s.registerStreams()
	s.registerUsers()
	s.registerGuilds()
	s.registerOperations()
	s.registerPublish()
	s.registerConfig()
	s.mux.HandleFunc("/", s.notFound)
	return s, nil
}

// config is huma's configuration: OpenAPI 3.1 under /v1, errors as problems, and no
// $schema links in the bodies (responses are exactly gaib's JSON documents).
func (s *Server) config() huma.Config {
	c := huma.DefaultConfig("gaib", Version)
	c.Info.Description = "Provision Discord bot sandboxes programmatically: the REST face of the gaib mesh's " +
		"NATS micro services. Authenticate with `Authorization: Bearer <token>` (`gaib user token NAME`). " +
		"Errors are RFC 9457 problem details whose `code` is gaib's stable error code."
	c.OpenAPIPath, c.DocsPath, c.SchemasPath = OpenAPIPath, DocsPath, ""
	c.CreateHooks = nil
	c.RejectUnknownQueryParameters = true // ?ownr=alice must not list everyone
	c.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		bearerScheme: {Type: "http", Scheme: "bearer", BearerFormat: "gaib_<id>_<secret>",
			Description: "A token issued to a gaib identity by an admin: `gaib user token NAME`. It acts exactly as that identity does over NATS."},
	}
	return c
}

// Handler is the API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// OpenAPI is the API's OpenAPI document.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

// Routes are the routes registered with the HTTP router, operations and the document's
// own alike, in registration order.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Listen opens the API's listener on addr. With Insecure it refuses any address that is not
// loopback: anyone who reaches the port would act as the local admin.
func (s *Server) Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, sandbox.Errorf(sandbox.CodeUnavailable, "REST API on %s: %v", addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); s.cfg.Insecure && (!ok || !tcp.IP.IsLoopback()) {
		_ = ln.Close()
		return nil, sandbox.Errorf(sandbox.CodeInvalidRequest,
			"--http-insecure serves unauthenticated requests as the local admin, so only on a loopback address (127.0.0.1:PORT), not %s", addr)
	}
	return ln, nil
}

// Serve answers on ln until ctx ends, then stops within a few seconds; streams end with
// ctx (every request's context derives from it).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog: slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelWarn),
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
	}()
	err := srv.Serve(ln)
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// as is a client of the services acting as the request's authenticated identity.
func (s *Server) as(ctx context.Context) *client.Client {
	return client.NewClient(s.cfg.Conn, identityOf(ctx), s.cfg.Timeout)
}

// notFound answers paths no route matches with a problem, like every other refusal.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, problemOf(sandbox.CodeNotFound, "no route "+r.Method+" "+r.URL.Path+": see /v1/openapi.json", r.URL.Path))
}

// recorder is the HTTP adapter that also remembers every route, so a test can compare the
// routes served with the routes documented.
type recorder struct {
	huma.Adapter
	routes *[]Route
}

func (r recorder) Handle(op *huma.Operation, h func(huma.Context)) {
	*r.routes = append(*r.routes, Route{Method: op.Method, Path: op.Path})
	r.Adapter.Handle(op, h)
}
