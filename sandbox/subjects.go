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
	// AuditPrefix is where every change is recorded.
	AuditPrefix = ControlPrefix + ".audit"
)

// Micro service names, as `nats micro ls` shows them.
const (
	ServiceSandbox = "sandbox"
	ServiceRouter  = "router"
	ServiceCleanup = "cleanup"
)

// Endpoint returns the subject of a service endpoint: gaib.<service>.<op>.
func Endpoint(service, op string) string { return ControlPrefix + "." + service + "." + op }

// Group returns the subject prefix of a service's endpoints: gaib.<service>.
func Group(service string) string { return ControlPrefix + "." + service }

// SandboxSubject returns the routed subject of a production subject for sandbox id:
// sandbox.<id>.<subject>.
func SandboxSubject(id, subject string) string {
	return SandboxPrefix + "." + id + "." + subject
}

// SandboxWildcard returns the subject filter of everything routed to sandbox id.
func SandboxWildcard(id string) string { return SandboxPrefix + "." + id + ".>" }

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

// Names of the JetStream KV buckets and streams; the stream names of the router's outputs
// are configurable and these are their defaults.
const (
	BucketSandboxes = "gaib_sandboxes"
	BucketNames     = "gaib_names"
	BucketOwners    = "gaib_owners"
	BucketRoutes    = "gaib_routes"

	StreamGateway  = "GATEWAY"
	StreamEvents   = "EVENTS"
	StreamCommands = "COMMANDS"
	StreamSandbox  = "SANDBOX"
	StreamAudit    = "AUDIT"
)
