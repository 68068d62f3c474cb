package api

import (
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"

	"github.com/arrakis/gaib/sandbox"
)

// operation describes an authenticated operation. Every one may answer 400 (invalid
// input), 401, 403, 500 and 503 (the mesh does not answer), plus errs.
func operation(id, method, path, tag, summary, description string, errs ...int) huma.Operation {
	all := append([]int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden,
		http.StatusInternalServerError, http.StatusServiceUnavailable}, errs...)
	if method == http.MethodPost || method == http.MethodPut {
		all = append(all, http.StatusRequestEntityTooLarge)
	}
	slices.Sort(all)
	return huma.Operation{
		OperationID: id, Method: method, Path: path, Tags: []string{tag}, Summary: summary, Description: description,
		Security: bearer, Errors: slices.Compact(all), MaxBodyBytes: sandbox.MaxRequestBytes,
	}
}

// Bodies of answers that are exactly a document of the services.
type (
	recordOutput   struct{ Body sandbox.Record }
	guildOutput    struct{ Body sandbox.GuildResponse }
	userOutput     struct{ Body sandbox.User }
	tokenOutput    struct{ Body sandbox.Token }
	allowedOutput  struct{ Body sandbox.AllowedGuild }
	guildRefOutput struct{ Body sandbox.GuildRef }
)

// Path parameters (exported: huma reads the embedded ones only then).
type (
	// SandboxPath names a sandbox.
	SandboxPath struct {
		Name string `path:"name" example:"demo" doc:"The sandbox's name, or its id (a destroyed sandbox is found by id)."`
	}
	// GuildPath names a guild of a sandbox.
	GuildPath struct {
		Name  string `path:"name" example:"demo" doc:"The sandbox's name or id."`
		Guild string `path:"guild_id" example:"123456789012345678" doc:"A Discord guild id (snowflake, 17-20 digits)."`
	}
	// UserPath names an identity.
	UserPath struct {
		User string `path:"user" example:"alice" doc:"An identity's name."`
	}
)
