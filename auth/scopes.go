package auth

import (
	"github.com/nats-io/jwt/v2"

	"github.com/arrakis/gaib/sandbox"
)

// RoleResponder names the scoped signing key of the connection the mesh's micro services
// answer on. Nobody holds it but the mesh: it may receive requests and publish replies into
// inboxes, nothing else, so a request whose reply subject names an event, audit or control
// subject (or a sandbox's inbox) cannot make a service publish there.
const RoleResponder = "responder"

// signingRoles are the roles that have a scoped signing key in the account.
var signingRoles = []string{string(sandbox.RoleAdmin), string(sandbox.RoleDeveloper), string(sandbox.RoleGateway), RoleResponder}

// Permissions returns the permission template of a role. The server expands {{name()}} from
// each user JWT's name, which gaib validates as one subject token before minting, so every
// identity is confined to subjects carrying its own name.
func Permissions(role string) jwt.UserPermissionLimits {
	var p jwt.UserPermissionLimits
	p.Limits = jwt.Limits{NatsLimits: jwt.NatsLimits{Subs: jwt.NoLimit, Data: jwt.NoLimit, Payload: jwt.NoLimit}}
	inbox := sandbox.UserInbox("{{name()}}") + ".>"
	callers := make([]string, 0, len(sandbox.Services))
	for _, s := range sandbox.Services {
		callers = append(callers, sandbox.CallerPermission(s))
	}
	discovery := []string{"$SRV.PING", "$SRV.PING.>", "$SRV.INFO", "$SRV.INFO.>"}
	switch role {
	case string(sandbox.RoleAdmin):
		p.Pub.Allow.Add(callers...)
		p.Pub.Allow.Add(discovery...)
		p.Pub.Allow.Add("$SRV.STATS", "$SRV.STATS.>", sandbox.GatewayPrefix+".>")
		p.Sub.Allow.Add(inbox)
	case string(sandbox.RoleDeveloper):
		// No micro discovery ($SRV): its built-in handlers answer on whatever reply subject
		// the request names, so a developer could have pings land in another identity's
		// inbox. Only admins, who are trusted with the mesh, discover services.
		p.Pub.Allow.Add(callers...)
		p.Sub.Allow.Add(inbox)
	case string(sandbox.RoleGateway):
		p.Pub.Allow.Add(sandbox.GatewayPrefix + ".>")
		p.Sub.Allow.Add(inbox)
	case RoleResponder:
		p.Pub.Allow.Add(sandbox.InboxWildcard)
		p.Pub.Deny.Add(sandbox.SandboxInboxesWildcard)
		p.Sub.Allow.Add(sandbox.EndpointSubject("*", "*"), "$SRV.>")
	}
	return p
}

// scope is the scoped signing key entry of a role for the account JWT.
func scope(role, signingKey string) *jwt.UserScope {
	s := jwt.NewUserScope()
	s.Key = signingKey
	s.Role = role
	s.Description = "gaib " + role + " credentials"
	s.Template = Permissions(role)
	return s
}
