package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/danielgtaylor/huma/v2"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

type userAddInput struct {
	Body struct {
		Name string       `json:"name" example:"alice" doc:"1-32 characters of a-z, 0-9, '-' or '_', starting with a letter."`
		Role sandbox.Role `json:"role,omitempty" example:"developer" doc:"developer (default), admin, or gateway."`
		TTL  string       `json:"ttl,omitempty" example:"90d" doc:"The NATS credential expires after this long (default: never)."`
	}
}

type userAddOutput struct {
	Location string `header:"Location"`
	Body     sandbox.UserAddResponse
}

type usersOutput struct{ Body []sandbox.User }

type whoAmIOutput struct{ Body sandbox.WhoAmIResponse }

type tokenIssueInput struct {
	UserPath
	Body struct {
		TTL  string `json:"ttl,omitempty" example:"90d" doc:"The token stops working after this long (default: never)."`
		Note string `json:"note,omitempty" example:"CI of the bot repository" doc:"What the token is for (at most 200 bytes)."`
	}
}

type tokenIssueOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         sandbox.TokenIssueResponse
}

type tokensOutput struct{ Body []sandbox.Token }

type tokenPath struct {
	UserPath
	ID string `path:"token_id" example:"k3x9q2m7p1za" doc:"The token's id (the part after gaib_)."`
}

func (s *Server) registerUsers() {
	const tag = "users"
	huma.Register(s.api, operation("whoami", http.MethodGet, "/v1/whoami", tag, "Who the mesh takes you for",
		"The identity the bearer token acts as, and its role."), s.whoAmI)
	huma.Register(s.api, operation("list-users", http.MethodGet, "/v1/users", tag, "List identities", "Admins."), s.listUsers)
	huma.Register(s.api, with(operation("add-user", http.MethodPost, "/v1/users", tag, "Issue an identity",
		"Admins. Answers the identity and its NATS credential (a .creds document), shown once.", http.StatusConflict), http.StatusCreated), s.addUser)
	huma.Register(s.api, operation("revoke-user", http.MethodDelete, "/v1/users/{user}", tag, "Revoke an identity",
		"Admins. Its NATS credentials and API tokens stop working at once; its sandboxes stay.", http.StatusNotFound), s.revokeUser)
	huma.Register(s.api, with(operation("issue-token", http.MethodPost, "/v1/users/{user}/tokens", tag, "Issue an API token",
		"Admins. The token (gaib_<id>_<secret>) is in this answer only; gaib keeps a hash. It acts exactly as the identity does, and dies with it.",
		http.StatusNotFound, http.StatusConflict), http.StatusCreated), s.issueToken)
	huma.Register(s.api, operation("list-tokens", http.MethodGet, "/v1/users/{user}/tokens", tag, "List an identity's API tokens",
		"Admins. Never their secrets.", http.StatusNotFound), s.listTokens)
	huma.Register(s.api, operation("revoke-token", http.MethodDelete, "/v1/users/{user}/tokens/{token_id}", tag, "Revoke an API token",
		"Admins. It stops working at once.", http.StatusNotFound), s.revokeToken)
}

func (s *Server) whoAmI(ctx context.Context, _ *struct{}) (*whoAmIOutput, error) {
	r, err := client.Call[sandbox.WhoAmIResponse](ctx, s.as(ctx), sandbox.ServiceUser, sandbox.OpWhoAmI, struct{}{})
	return &whoAmIOutput{Body: r}, err
}

func (s *Server) listUsers(ctx context.Context, _ *struct{}) (*usersOutput, error) {
	r, err := client.Call[[]sandbox.User](ctx, s.as(ctx), sandbox.ServiceUser, sandbox.OpUserList, struct{}{})
	return &usersOutput{Body: r}, err
}

func (s *Server) addUser(ctx context.Context, in *userAddInput) (*userAddOutput, error) {
	r, err := client.Call[sandbox.UserAddResponse](ctx, s.as(ctx), sandbox.ServiceUser, sandbox.OpUserAdd,
		sandbox.UserAddRequest{Name: in.Body.Name, Role: in.Body.Role, TTL: in.Body.TTL})
	return &userAddOutput{Location: "/v1/users/" + url.PathEscape(r.User.Name), Body: r}, err
}

func (s *Server) revokeUser(ctx context.Context, in *UserPath) (*userOutput, error) {
	r, err := client.Call[sandbox.User](ctx, s.as(ctx), sandbox.ServiceUser, sandbox.OpUserRevoke, sandbox.UserRequest{Name: in.User})
	return &userOutput{Body: r}, err
}

func (s *Server) issueToken(ctx context.Context, in *tokenIssueInput) (*tokenIssueOutput, error) {
	r, err := client.Call[sandbox.TokenIssueResponse](ctx, s.as(ctx), sandbox.ServiceUser, sandbox.OpTokenIssue,
		sandbox.TokenIssueRequest{Name: in.User, TTL: in.Body.TTL, Note: in.Body.Note})
	return &tokenIssueOutput{CacheControl: "no-store", Body: r}, err
}

func (s *Server) listTokens(ctx context.Context, in *UserPath) (*tokensOutput, error) {
	r, err := client.Call[[]sandbox.Token](ctx, s.as(ctx), sandbox.ServiceUser, sandbox.OpTokenList, sandbox.UserRequest{Name: in.User})
	return &tokensOutput{Body: r}, err
}

func (s *Server) revokeToken(ctx context.Context, in *tokenPath) (*tokenOutput, error) {
	r, err := client.Call[sandbox.Token](ctx, s.as(ctx), sandbox.ServiceUser, sandbox.OpTokenRevoke, sandbox.TokenRevokeRequest{Name: in.User, ID: in.ID})
	return &tokenOutput{Body: r}, err
}
