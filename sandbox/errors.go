package sandbox

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Codes travel in the micro error header
// (Nats-Service-Error-Code), appear in `--json` output and decide the CLI's exit code.
type Code string

// The stable error codes. Never rename one: scripts match on them.
const (
	CodeInvalidRequest Code = "invalid_request"
	CodeInvalidName    Code = "invalid_name"
	CodeInvalidID      Code = "invalid_id"
	CodeInvalidOwner   Code = "invalid_owner"
	CodeInvalidTTL     Code = "invalid_ttl"
	CodeInvalidGuild   Code = "invalid_guild"
	CodeTooLarge       Code = "payload_too_large"
	CodeNotFound       Code = "not_found"
	CodeNameTaken      Code = "name_taken"
	CodeQuotaExceeded  Code = "quota_exceeded"
	CodeGuildTaken     Code = "guild_taken"
	CodeWrongState     Code = "wrong_state"
	CodeUnavailable    Code = "unavailable"
	// CodeForbidden: the caller is authenticated but may not do this (not their sandbox,
	// not an admin).
	CodeForbidden Code = "forbidden"
	// CodeUnauthenticated: no valid credential (unknown, revoked or expired identity).
	CodeUnauthenticated Code = "unauthenticated"
	// CodeGuildNotAllowed: the guild is not on the allow-list for this caller.
	CodeGuildNotAllowed Code = "guild_not_allowed"
	// CodeTooManyGuilds: a sandbox may have at most --max-guilds-per-sandbox guilds.
	CodeTooManyGuilds Code = "too_many_guilds"
	CodeProvisioning  Code = "provisioning_failed"
	CodeInternal      Code = "internal"
)

// Exit codes of the gaib CLI, documented in the README.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitNotFound    = 3
	ExitConflict    = 4
	ExitUnreachable = 5
	ExitForbidden   = 6
)

// ExitCode maps a code to the CLI's exit code.
func (c Code) ExitCode() int {
	switch c {
	case CodeInvalidRequest, CodeInvalidName, CodeInvalidID, CodeInvalidOwner, CodeInvalidTTL,
		CodeInvalidGuild, CodeTooLarge, CodeInvalidConfigKey, CodeInvalidConfigValue:
		return ExitUsage
	case CodeNotFound:
		return ExitNotFound
	case CodeNameTaken, CodeQuotaExceeded, CodeGuildTaken, CodeWrongState, CodeTooManyGuilds, CodeConfigTooLarge:
		return ExitConflict
	case CodeForbidden, CodeUnauthenticated, CodeGuildNotAllowed:
		return ExitForbidden
	case CodeUnavailable:
		return ExitUnreachable
	default:
		return ExitFailure
	}
}

// Error is an error with a stable code. Services answer with it, the client rebuilds it
// from the micro error headers, and errors.Is matches two Errors by code alone.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, sandbox.ErrNotFound) works on any not-found error.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t != nil && t.Code == e.Code
}

// Errorf builds an *Error with a code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinels for errors.Is; their messages are generic, real errors carry specific ones.
var (
	ErrNotFound      = &Error{Code: CodeNotFound, Message: "not found"}
	ErrNameTaken     = &Error{Code: CodeNameTaken, Message: "name taken"}
	ErrQuotaExceeded = &Error{Code: CodeQuotaExceeded, Message: "quota exceeded"}
	ErrGuildTaken    = &Error{Code: CodeGuildTaken, Message: "guild taken"}
	ErrWrongState    = &Error{Code: CodeWrongState, Message: "wrong state"}
	ErrUnavailable   = &Error{Code: CodeUnavailable, Message: "unavailable"}
	ErrForbidden     = &Error{Code: CodeForbidden, Message: "forbidden"}
)

// AsError returns err as an *Error, wrapping anything else as CodeInternal.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

// ErrorBody is the JSON document of a failure: `{"error": {"code": ..., "message": ...}}`.
type ErrorBody struct {
	Error *Error `json:"error"`
}
