package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

type auditInput struct {
	SandboxPath
	After uint64 `query:"after" doc:"Start after this entry (the seq of the last entry of the previous page)."`
	Limit int    `query:"limit" example:"100" doc:"At most this many entries (default 100, at most 200)."`
}

type auditOutput struct{ Body sandbox.AuditResponse }

func (s *Server) registerAudit() {
	huma.Register(s.api, operation("get-audit", http.MethodGet, "/v1/sandboxes/{name}/audit", "sandboxes", "A sandbox's audit trail",
		"Every change made to the sandbox, oldest first, with who made it and the record before and after; also after it was destroyed (by name or id). Owner or admin. Pages: when more is true, ask again with after set to the last entry's seq.",
		http.StatusNotFound), s.audit)
}

func (s *Server) audit(ctx context.Context, in *auditInput) (*auditOutput, error) {
	r, err := client.Call[sandbox.AuditResponse](ctx, s.as(ctx), sandbox.ServiceSandbox, sandbox.OpAudit,
		sandbox.AuditRequest{Sandbox: in.Name, After: in.After, Limit: in.Limit})
	return &auditOutput{Body: r}, err
}
