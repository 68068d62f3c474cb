package sandbox

import "strings"

// Control-plane subjects live under ControlPrefix, never under SandboxPrefix, so a credential
// allowed "sandbox.<id>.>" can never reach the control plane or another sandbox.
const (
	ControlPrefix = "gaib"
	SandboxPrefix = "sandbox"
	GatewayPrefix = "gateway"
	EventsPrefix  = "events"
	// CommandsPrefix carries interactions (slash commands), routed exactly like events.
	CommandsPrefix = "commands"
	// AuditPrefix is where every change is recorded. Only the mesh may publish there.
	AuditPrefix = ControlPrefix + ".audit"
)

// Micro service names, as `nats micro ls` shows them.
const (
	ServiceSandbox = "sandbox"
	ServiceRouter  = "router"
	ServiceCleanup = "cleanup"
	ServiceUser    = "user"
	ServiceGuild   = "guild"
)

// Services lists every micro service whose endpoints an identity may call.
var Services = []string{ServiceSandbox, ServiceRouter, ServiceCleanup, ServiceUser, ServiceGuild}

// Endpoint returns the subject prefix of a service endpoint: gaib.<service>.<op>. Requests
// are sent to Request(service, op, caller), one token longer.
func Endpoint(service, op string) string { return ControlPrefix + "." + service + "." + op }

// EndpointSubject is the subject a service endpoint listens on: gaib.<service>.<op>.*,
// whose last token is the caller.
func EndpointSubject(service, op string) string { return Endpoint(service, op) + ".*" }

// Request returns the subject a caller sends a request to: gaib.<service>.<op>.<caller>.
// NATS lets an identity publish only on subjects that end with its own name (admins and
// developers alike), so the service knows who asks from the subject alone.
func Request(service, op, caller string) string { return Endpoint(service, op) + "." + caller }

// CallerPermission is the permission template that lets an identity call every endpoint of
// service as itself ({{name()}} is expanded by the server from the credential).
func CallerPermission(service string) string {
	return ControlPrefix + "." + service + ".*.{{name()}}"
}

// CallerOf returns the caller token of a request subject gaib.<service>.<op>.<caller>.
func CallerOf(subject string) (string, bool) {
	toks := strings.Split(subject, ".")
	if len(toks) != 4 || toks[0] != ControlPrefix || toks[3] == "" {
		return "", false
	}
	return toks[3], true
}

// Group returns the subject prefix of a service's endpoints: gaib.<service>.
func Group(service string) string { return ControlPrefix + "." + service }

// UserInbox is the inbox prefix of an identity's connections. Its credential may subscribe
// only there, so nobody reads another identity's replies.
func UserInbox(name string) string { return "_INBOX.user." + name }

// SandboxInbox is the inbox prefix of a sandbox's workers.
func SandboxInbox(id string) string { return "_INBOX.sandbox." + id }

// Inbox wildcards: every inbox, and the inboxes of every sandbox's workers.
const (
	InboxWildcard          = "_INBOX.>"
	SandboxInboxesWildcard = "_INBOX.sandbox.>"
)

// ReplyAllowed reports whether a service may answer a request of caller on reply: only in
// the caller's own inbox, or in an anonymous one (_INBOX.<nuid>, where only the mesh's own
// connections listen). Never on an event, audit or control subject, never into a sandbox's
// inbox or another identity's: the reply subject is the requester's choice, and a service
// publishing wherever it is told would publish with the mesh's rights.
func ReplyAllowed(caller, reply string) bool {
	switch {
	case strings.Contains(reply, "..") || strings.HasSuffix(reply, "."):
		return false // an empty token: not a subject anyone subscribes to
	case !strings.HasPrefix(reply, "_INBOX."), strings.HasPrefix(reply, "_INBOX.sandbox."):
		return false
	case strings.HasPrefix(reply, "_INBOX.user."):
		return caller != "" && strings.HasPrefix(reply, UserInbox(caller)+".") && len(reply) > len(UserInbox(caller))+1
	}
	return len(reply) > len("_INBOX.") && !strings.ContainsAny(reply, " \t\r\n*>")
}

// SandboxSubject returns the routed subject of a production subject for sandbox id:
// sandbox.<id>.<subject>.
func SandboxSubject(id, subject string) string {
	return SandboxPrefix + "." + id + "." + subject
}

// SandboxWildcard returns the subject filter of everything in sandbox id's namespace.
func SandboxWildcard(id string) string { return SandboxPrefix + "." + id + ".>" }

// SandboxStreamSubjects are the subjects the sandbox's own stream stores: its routed events
// and interactions (and test events its owner injects there).
func SandboxStreamSubjects(id string) []string {
	return []string{
		SandboxSubject(id, EventsPrefix+".>"),
		SandboxSubject(id, CommandsPrefix+".>"),
	}
}

// SandboxStream is the name of the stream holding sandbox id's events: SANDBOX_<id>. Each
// sandbox has its own, with its own limits, deleted with the sandbox.
func SandboxStream(id string) string { return StreamSandboxPrefix + id }

// SandboxStreamID returns the id of a sandbox stream name and whether it was one.
func SandboxStreamID(stream string) (string, bool) {
	id, ok := strings.CutPrefix(stream, StreamSandboxPrefix)
	return id, ok && ValidID(id)
}

// SandboxConsumer is the durable consumer gaib creates on each sandbox stream for its bot
// worker; the sandbox's credential may consume only through it.
const SandboxConsumer = "worker"

// GatewaySubject returns the gateway's subject for a production subject:
// events.member.join → gateway.events.member.join.
func GatewaySubject(subject string) string { return GatewayPrefix + "." + subject }

// StripGateway returns the production subject of a gateway subject and whether it was one
// the router routes (gateway.events.… or gateway.commands.…).
func StripGateway(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, GatewayPrefix+".")
	if !ok {
		return "", false
	}
	if strings.HasPrefix(rest, EventsPrefix+".") || strings.HasPrefix(rest, CommandsPrefix+".") {
		return rest, true
	}
	return "", false
}

// AuditSubject returns the audit subject of an action on a sandbox:
// gaib.audit.<id>.<action>.
func AuditSubject(id, action string) string { return AuditPrefix + "." + id + "." + action }

// Names of the JetStream KV buckets and streams; the stream names of the router's
// production outputs are configurable and these are their defaults.
const (
	BucketSandboxes   = "gaib_sandboxes"
	BucketNames       = "gaib_names"
	BucketOwners      = "gaib_owners"
	BucketRoutes      = "gaib_routes"
	BucketUsers       = "gaib_users"
	BucketGuilds      = "gaib_guilds"
	BucketRevocations = "gaib_revocations"

	StreamGateway  = "GATEWAY"
	StreamEvents   = "EVENTS"
	StreamCommands = "COMMANDS"
	// StreamSandboxPrefix prefixes every sandbox's own stream (SandboxStream).
	StreamSandboxPrefix = "SANDBOX_"
	StreamAudit         = "AUDIT"
)
