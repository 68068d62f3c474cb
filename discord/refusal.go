package discord

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// Discord's JSON error codes the proxy answers with, so libraries report them as they
// would Discord's own.
const (
	discordGeneral          = 0
	discordUnknownChannel   = 10003
	discordUnknownInteract  = 10062
	discordTooLarge         = 40005
	discordAlreadyAnswered  = 40060
	discordMissingAccess    = 50001
	discordMissingPermisson = 50013
)

// refusal is an answer the proxy gives itself, without reaching Discord: an HTTP status,
// a Discord error code and a gaib error with a stable code and a message naming the reason.
type refusal struct {
	status  int
	discord int
	err     *sandbox.Error
	// retryAfter and global make a 429 that libraries back off from.
	retryAfter time.Duration
	global     bool
	// label overrides the outcome metrics count the refusal as.
	label string
}

func (r *refusal) Error() string { return r.err.Message }

func refuse(status, discordCode int, code sandbox.Code, format string, args ...any) *refusal {
	return &refusal{status: status, discord: discordCode, err: sandbox.Errorf(code, "gaib: "+format, args...)}
}

// forbidden: the request does not concern the sandbox.
func forbidden(format string, args ...any) *refusal {
	return refuse(http.StatusForbidden, discordMissingAccess, sandbox.CodeDiscordForbidden, format, args...)
}

// malformed: a request target or header the proxy does not accept (path tricks); still a
// 403 so that nothing distinguishes "not parsed" from "not allowed" for a prober.
func malformed(format string, args ...any) *refusal {
	return refuse(http.StatusForbidden, discordMissingPermisson, sandbox.CodeInvalidRequest, format, args...)
}

func unauthorized(format string, args ...any) *refusal {
	return refuse(http.StatusUnauthorized, discordGeneral, sandbox.CodeDiscordUnauthorized, format, args...)
}

func rateLimited(retry time.Duration, global bool, format string, args ...any) *refusal {
	r := refuse(http.StatusTooManyRequests, discordGeneral, sandbox.CodeDiscordRateLimited, format, args...)
	r.retryAfter, r.global = retry, global
	return r
}

// body is the Discord-shaped JSON error document.
type body struct {
	Message    string       `json:"message"`
	Code       int          `json:"code"`
	GaibCode   sandbox.Code `json:"gaib_code"`
	RetryAfter *float64     `json:"retry_after,omitempty"`
	Global     *bool        `json:"global,omitempty"`
}

// write answers the refusal.
func (r *refusal) write(w http.ResponseWriter) {
	b := body{Message: r.err.Message, Code: r.discord, GaibCode: r.err.Code}
	h := w.Header()
	if r.status == http.StatusTooManyRequests {
		secs := math.Ceil(r.retryAfter.Seconds()*1000) / 1000
		b.RetryAfter, b.Global = &secs, &r.global
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(r.retryAfter.Seconds()))))
		h.Set("X-RateLimit-Global", strconv.FormatBool(r.global))
		scope := "user"
		if r.global {
			scope = "global"
		}
		h.Set("X-RateLimit-Scope", scope)
	}
	out, _ := json.Marshal(b)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(r.status)
	_, _ = w.Write(out)
}

// outcome names a refusal for metrics.
func (r *refusal) outcome() string {
	if r.label != "" {
		return r.label
	}
	switch r.err.Code {
	case sandbox.CodeDiscordForbidden, sandbox.CodeInvalidRequest:
		return "refused"
	case sandbox.CodeDiscordRateLimited:
		return "rate_limited"
	case sandbox.CodeDiscordUnauthorized:
		return "unauthorized"
	default:
		return fmt.Sprint(r.err.Code)
	}
}
