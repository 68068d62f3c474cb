package api

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// bearerScheme names the security scheme of every authenticated operation.
const bearerScheme = "bearer"

// bearer is the security requirement of an authenticated operation.
var bearer = []map[string][]string{{bearerScheme: {}}}

type identityKey struct{}

// identityOf is the identity the request was authenticated as.
func identityOf(ctx context.Context) string {
	name, _ := ctx.Value(identityKey{}).(string)
	return name
}

// authenticate is the middleware of every operation that has a security requirement: it
// finds who asks and stores it in the request's context, or answers 401. The token is
// verified by the user service on every request (no cache), so a revocation takes effect
// at once.
func (s *Server) authenticate(ctx huma.Context, next func(huma.Context)) {
	if len(ctx.Operation().Security) == 0 {
		next(ctx)
		return
	}
	name, err := s.identify(ctx)
	if err != nil {
		p := newProblem(0, "", ctx.URL().Path, err)
		if p.Status == http.StatusUnauthorized {
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="gaib"`)
		}
		_ = huma.WriteErr(s.api, ctx, p.Status, p.Detail, err)
		return
	}
	next(huma.WithValue(ctx, identityKey{}, name))
}

// identify returns the identity a request acts as: its bearer token's, or with Insecure
// and no token, the local admin's (only for a loopback Host, so a web page cannot reach
// it by DNS rebinding).
func (s *Server) identify(ctx huma.Context) (string, error) {
	h := ctx.Header("Authorization")
	if h == "" {
		if s.cfg.Insecure {
			if !loopbackHost(ctx.Host()) {
				return "", sandbox.Errorf(sandbox.CodeForbidden, "without a token this API answers only requests to a loopback host, not %q", ctx.Host())
			}
			return s.cfg.LocalAdmin, nil
		}
		return "", sandbox.Errorf(sandbox.CodeUnauthenticated, "no credential: send Authorization: Bearer <token> (an admin issues one with gaib user token NAME)")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", sandbox.Errorf(sandbox.CodeUnauthenticated, "the Authorization header must be Bearer <token>")
	}
	mesh := client.NewClient(s.cfg.Conn, sandbox.ActorMesh, s.cfg.Timeout)
	who, err := client.Call[sandbox.AuthenticateResponse](ctx.Context(), mesh, sandbox.ServiceUser, sandbox.OpAuthenticate,
		sandbox.AuthenticateRequest{Token: token})
	if err != nil {
		return "", err
	}
	// The name goes into request subjects: only ever a registered identity's, checked again.
	if err := sandbox.ValidateIdentity(who.Name); err != nil {
		return "", sandbox.Errorf(sandbox.CodeInternal, "the user service answered an invalid identity")
	}
	return who.Name, nil
}

// loopbackHost reports whether a Host header names this machine's loopback interface.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// writeProblem writes a problem outside huma (routes no operation matches).
func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
