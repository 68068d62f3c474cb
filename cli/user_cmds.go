package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/arrakis/gaib/auth"
	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// UserCmd groups the identity commands.
type UserCmd struct {
	Add    UserAddCmd    `cmd:"" help:"Issue an identity and its credential (admins)."`
	List   UserListCmd   `cmd:"" aliases:"ls" help:"List identities (admins)."`
	Revoke UserRevokeCmd `cmd:"" help:"Revoke an identity: its credentials stop working at once, connected clients are disconnected (admins)."`
	WhoAmI UserWhoAmICmd `cmd:"" name:"whoami" help:"Who the mesh takes you for."`
	Token  UserTokenCmd  `cmd:"" help:"Issue (or --list, --revoke) REST API bearer tokens of an identity (admins)."`
}

// UserAddCmd is `gaib user add`.
type UserAddCmd struct {
	Name  string `arg:"" help:"Identity name: 1-32 characters of a-z, 0-9, '-' or '_', starting with a letter."`
	Admin bool   `help:"Make it an admin (acts on every sandbox, manages users and guilds)."`
	Role  string `enum:"developer,admin,gateway," default:"" help:"Role: developer (default), admin, or gateway (may only publish gateway events)."`
	TTL   string `name:"ttl" help:"The credential expires after this long (90d, 1w; default: never)."`
	Save  string `placeholder:"FILE" help:"Write the credential to FILE (0600) instead of stdout."`
}

// Help is the detailed help of `gaib user add`.
func (UserAddCmd) Help() string {
	return detail("The credential is shown once: give it to its holder, who uses it with --creds FILE or NATS_CREDS.",
		"gaib user add alice --save alice.creds",
		"gaib user add ci-bot --ttl 90d --save ci.creds",
		"gaib user add gateway --role gateway > gateway.creds")
}

// Run issues the identity and prints (or writes) its .creds document.
func (c *UserAddCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	role := sandbox.Role(c.Role)
	if c.Admin {
		role = sandbox.RoleAdmin
	}
	return g.withClient(func(cl *client.Client) error {
		resp, err := client.Call[sandbox.UserAddResponse](ctx, cl, sandbox.ServiceUser, sandbox.OpUserAdd,
			sandbox.UserAddRequest{Name: c.Name, Role: role, TTL: c.TTL})
		if err != nil {
			return err
		}
		if c.Save != "" {
			if err := auth.WritePrivate(c.Save, []byte(resp.Credentials)); err != nil {
				return err
			}
			return g.out(o, resp.User, c.Save, func() {
				writeLine(o.Stdout, "Issued %s %s; credential written to %s (give it to them; it is shown once).", resp.User.Role, resp.User.Name, c.Save)
				writeLine(o.Stdout, "They use it with:  gaib --creds %s sandbox list   (or export NATS_CREDS=%s)", c.Save, c.Save)
			})
		}
		if g.structured() {
			return g.document(o.Stdout, resp)
		}
		if !g.Quiet {
			fmt.Fprintf(o.Stderr, "Issued %s %s. Its credential follows (save it to a 0600 file; it is shown once).\n", resp.User.Role, resp.User.Name)
		}
		_, err = fmt.Fprint(o.Stdout, resp.Credentials)
		return err
	})
}

// UserListCmd is `gaib user list`.
type UserListCmd struct{}

// Help is the detailed help of `gaib user list`.
func (UserListCmd) Help() string { return examples("gaib user list", "gaib user ls -o json") }

// Run lists identities.
func (UserListCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		users, err := client.Call[[]sandbox.User](ctx, cl, sandbox.ServiceUser, sandbox.OpUserList, struct{}{})
		if err != nil {
			return err
		}
		names := make([]string, len(users))
		for i, u := range users {
			names[i] = u.Name
		}
		return g.outList(o, users, names, func() error {
			t := newTable("NAME~", "ROLE", "STATE~", "CREATED", "BY~", "EXPIRES")
			now := time.Now()
			for _, u := range users {
				state, exp := "active", "never"
				if u.RevokedAt != nil {
					state = "revoked by " + u.RevokedBy
				}
				if !u.Expires.IsZero() {
					exp = relative(u.Expires, now)
				}
				t.row(u.Name, string(u.Role), state, relative(u.CreatedAt, now), u.CreatedBy, exp)
			}
			return g.render(o, t)
		})
	})
}

// UserRevokeCmd is `gaib user revoke`.
type UserRevokeCmd struct {
	Name string `arg:"" help:"Identity to revoke."`
}

// Help is the detailed help of `gaib user revoke`.
func (UserRevokeCmd) Help() string { return examples("gaib user revoke alice") }

// Run revokes the identity.
func (c *UserRevokeCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		u, err := client.Call[sandbox.User](ctx, cl, sandbox.ServiceUser, sandbox.OpUserRevoke, sandbox.UserRequest{Name: c.Name})
		if err != nil {
			return err
		}
		return g.out(o, u, u.Name, func() {
			writeLine(o.Stdout, "Revoked %s: its credentials no longer work and its connections were closed.", u.Name)
		})
	})
}

// UserWhoAmICmd is `gaib user whoami`.
type UserWhoAmICmd struct{}

// Help is the detailed help of `gaib user whoami`.
func (UserWhoAmICmd) Help() string {
	return examples("gaib user whoami", "gaib --creds alice.creds user whoami")
}

// Run prints the caller's identity and role.
func (UserWhoAmICmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		me, err := client.Call[sandbox.WhoAmIResponse](ctx, cl, sandbox.ServiceUser, sandbox.OpWhoAmI, struct{}{})
		if err != nil {
			return err
		}
		return g.out(o, me, me.Name, func() { writeLine(o.Stdout, "%s (%s) on %s", me.Name, me.Role, cl.URL()) })
	})
}

// credsDir is where `connect` keeps sandbox credentials: a 0700 directory of the user's.
func credsDir() (string, error) {
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		var err error
		if dir, err = os.UserConfigDir(); err != nil {
			return "", err
		}
	}
	dir += "/gaib/sandboxes"
	return dir, os.MkdirAll(dir, 0o700)
}
