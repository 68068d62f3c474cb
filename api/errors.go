package api

import (
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/arrakis/gaib/sandbox"
)

// ProblemTypePrefix begins the type URI of every problem: urn:gaib:problem:<code>, one per
// stable code, so a client can match on type or on code alike.
const ProblemTypePrefix = "urn:gaib:problem:"

// Problem is an RFC 9457 problem details document (application/problem+json) with gaib's
// stable error code, the same code the CLI prints with --json and turns into its exit code.
type Problem struct {
	Type     string       `json:"type" format:"uri" example:"urn:gaib:problem:not_found" doc:"URI of the problem type: urn:gaib:problem:<code>."`
	Title    string       `json:"title" example:"Not Found" doc:"Short summary of the problem type (the HTTP status text)."`
	Status   int          `json:"status" example:"404" doc:"HTTP status code."`
	Detail   string       `json:"detail,omitempty" example:"no sandbox named \"demo\"" doc:"What went wrong this time, and often what to do."`
	Instance string       `json:"instance,omitempty" format:"uri-reference" example:"/v1/sandboxes/demo" doc:"The request path."`
	Code     sandbox.Code `json:"code" example:"not_found" doc:"gaib's stable error code (the CLI's --json error code)."`
	Errors   []*Invalid   `json:"errors,omitempty" doc:"What was wrong with each part of the request, when it was refused before reaching the mesh."`
}

// Invalid is one thing wrong with a request.
type Invalid struct {
	Message  string `json:"message" example:"unexpected property" doc:"What is wrong."`
	Location string `json:"location,omitempty" example:"body.colour" doc:"Where: body.<field>, path.<param>, query.<param> or header.<name>."`
}

func (p *Problem) Error() string { return p.Detail }

// GetStatus is the HTTP status the problem is sent with.
func (p *Problem) GetStatus() int { return p.Status }

// ContentType makes problems application/problem+json.
func (p *Problem) ContentType(string) string { return "application/problem+json" }

// Every error huma writes (its own refusals and what handlers return) becomes a Problem.
// huma exposes these as package variables; the REST API is their only user in gaib.
func init() {
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		return newProblem(status, msg, "", errs...)
	}
	huma.NewErrorWithContext = func(ctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		instance := ""
		if ctx != nil {
			instance = ctx.URL().Path
		}
		return newProblem(status, msg, instance, errs...)
	}
}

// newProblem builds the problem of an error: a *sandbox.Error among errs decides the code
// and the status (its message is the detail); otherwise the status decides the code.
func newProblem(status int, msg, instance string, errs ...error) *Problem {
	var p *Problem
	for _, err := range errs {
		var se *sandbox.Error
		if errors.As(err, &p) {
			return p
		}
		if errors.As(err, &se) {
			return problemOf(se.Code, se.Message, instance)
		}
	}
	p = problemOf(codeOf(status), msg, instance)
	// huma refuses a body that breaks the schema with 422; gaib says 400 for any invalid
	// input. Other statuses of HTTP's own (405, 415, …) say more than 400 would.
	if status != 0 && status != http.StatusUnprocessableEntity {
		p.Status, p.Title = status, http.StatusText(status)
	}
	for _, err := range errs {
		var d *huma.ErrorDetail
		switch {
		case err == nil:
		case errors.As(err, &d):
			p.Errors = append(p.Errors, &Invalid{Message: d.Message, Location: d.Location})
		default:
			p.Errors = append(p.Errors, &Invalid{Message: err.Error()})
		}
	}
	return p
}

// problemOf is the problem of a stable code.
func problemOf(code sandbox.Code, detail, instance string) *Problem {
	status := StatusOf(code)
	return &Problem{Type: ProblemTypePrefix + string(code), Title: http.StatusText(status), Status: status,
		Detail: detail, Instance: instance, Code: code}
}

// StatusOf maps a stable code to its HTTP status: 400 invalid input, 401 unauthenticated,
// 403 forbidden, 404 not found, 409 conflicts, 413 too large, 503 mesh unavailable, 500
// anything else.
func StatusOf(code sandbox.Code) int {
	switch code {
	case sandbox.CodeInvalidRequest, sandbox.CodeInvalidName, sandbox.CodeInvalidID, sandbox.CodeInvalidOwner,
		sandbox.CodeInvalidTTL, sandbox.CodeInvalidGuild, sandbox.CodeInvalidConfigKey, sandbox.CodeInvalidConfigValue:
		return http.StatusBadRequest
	case sandbox.CodeUnauthenticated:
		return http.StatusUnauthorized
	case sandbox.CodeForbidden, sandbox.CodeGuildNotAllowed:
		return http.StatusForbidden
	case sandbox.CodeNotFound:
		return http.StatusNotFound
	case sandbox.CodeNameTaken, sandbox.CodeGuildTaken, sandbox.CodeQuotaExceeded, sandbox.CodeWrongState,
		sandbox.CodeTooManyGuilds, sandbox.CodeConfigTooLarge:
		return http.StatusConflict
	case sandbox.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case sandbox.CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// codeOf is the stable code of a refusal made by HTTP itself (huma's validation, a body
// too large, an unknown route).
func codeOf(status int) sandbox.Code {
	switch {
	case status == http.StatusUnauthorized:
		return sandbox.CodeUnauthenticated
	case status == http.StatusForbidden:
		return sandbox.CodeForbidden
	case status == http.StatusNotFound:
		return sandbox.CodeNotFound
	case status == http.StatusRequestEntityTooLarge:
		return sandbox.CodeTooLarge
	case status == http.StatusServiceUnavailable:
		return sandbox.CodeUnavailable
	case status >= 400 && status < 500:
		return sandbox.CodeInvalidRequest
	default:
		return sandbox.CodeInternal
	}
}
