package auth

import (
	"github.com/nats-io/jwt/v2"

	"github.com/arrakis/gaib/sandbox"
)

// RoleSandbox names the scoped signing key of sandbox credentials. It is not a user role:
// its users are sandboxes, named by their id.
const RoleSandbox = "sandbox"

// signingRoles are the roles that have a scoped signing key in the account.
var signingRoles = []string{string(sandbox.RoleAdmin), string(sandbox.RoleDeveloper), string(sandbox.RoleGateway), RoleSandbox}

// Limits of a sandbox credential: a worker subscribes to its namespace and its inbox, so a
// thousand subscriptions is generous; payloads up to 1 MiB, like Discord events.
const (
	sandboxMaxSubs    = 1000
	sandboxMaxPayload = 1 << 20
)

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
		p.Pub.Allow.Add(callers...)
		p.Pub.Allow.Add(discovery...)
		p.Sub.Allow.Add(inbox)
	case string(sandbox.RoleGateway):
		p.Pub.Allow.Add(sandbox.GatewayPrefix + ".>")
		p.Sub.Allow.Add(inbox)
	case RoleSandbox:
		p.Pub.Allow.Add(SandboxPublish("{{name()}}")...)
		p.Sub.Allow.Add(SandboxSubscribe("{{name()}}")...)
		p.Limits.Subs = sandboxMaxSubs
		p.Limits.Payload = sandboxMaxPayload
	}
	return p
}

// SandboxPublish is what a sandbox's credential may publish: its namespace, its inbox (for
// request/reply between its own workers), and the JetStream API calls that consume its own
// stream through the durable gaib created (info, next, ack) or read it (direct get). It may
// not create, change or delete consumers or streams: a consumer it created could deliver
// its stream anywhere.
func SandboxPublish(id string) []string {
	stream := sandbox.SandboxStream(id)
	durable := stream + "." + sandbox.SandboxConsumer
	return []string{
		sandbox.SandboxWildcard(id),
		sandbox.SandboxInbox(id) + ".>",
		"$JS.API.STREAM.INFO." + stream,
		"$JS.API.CONSUMER.INFO." + durable,
		"$JS.API.CONSUMER.MSG.NEXT." + durable,
		"$JS.ACK." + durable + ".>",
		"$JS.ACK.*.*." + durable + ".>", // the v2 ack format: domain and account hash first
		"$JS.API.DIRECT.GET." + stream,
		"$JS.API.DIRECT.GET." + stream + ".>",
	}
}

// SandboxSubscribe is what a sandbox's credential may subscribe to: its namespace and inbox.
func SandboxSubscribe(id string) []string {
	return []string{sandbox.SandboxWildcard(id), sandbox.SandboxInbox(id) + ".>"}
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
