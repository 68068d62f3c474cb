package sandbox

import "strconv"

// Names the router owns: its state bucket, its dead-letter stream and subjects, and the
// headers it stamps on every output.
const (
	// BucketRouter holds one key per router durable: the lease that elects the active
	// router and the gateway position it recorded as stored downstream.
	BucketRouter = "gaib_router"
	// StreamDeadLetter stores a reference to every gateway event the router would not
	// forward because it was larger than its limit.
	StreamDeadLetter = "GAIB_DEADLETTER"
	// DeadLetterPrefix is where those references are published; it lives under the
	// control prefix, never under SandboxPrefix, so no sandbox credential can reach it.
	DeadLetterPrefix = ControlPrefix + ".deadletter"

	// HeaderGatewaySeq carries, on every router output, the gateway stream sequence of the
	// event it came from: recovery reads it back to skip what was already stored.
	HeaderGatewaySeq = "Gaib-Gateway-Seq"
	// HeaderDeadLetterReason says why an event was dead-lettered.
	HeaderDeadLetterReason = "Gaib-Dead-Letter-Reason"
)

// DeadLetterSubject returns the dead-letter subject of a production subject:
// events.member.join → gaib.deadletter.events.member.join.
func DeadLetterSubject(subject string) string { return DeadLetterPrefix + "." + subject }

// GatewayMsgIDPrefix opens the message id of every router output.
const GatewayMsgIDPrefix = "gw-"

// GatewayMsgID returns the JetStream message id of the router output of the gateway event
// at sequence seq, stored in the gateway at stored (Unix nanoseconds):
// "gw-<seq>-<stored>". The output streams' duplicate window drops a repeat of it. Every
// router computes the same id for an event, and nobody can know it before the event exists:
// a worker publishing into its own stream with a guessed id (the next sequence) would
// otherwise have its stream drop that routed event as a duplicate.
func GatewayMsgID(seq uint64, stored int64) string {
	var b [len(GatewayMsgIDPrefix) + 41]byte
	out := strconv.AppendUint(append(b[:0], GatewayMsgIDPrefix...), seq, 10)
	out = strconv.AppendInt(append(out, '-'), stored, 10)
	return string(out)
}

// RouterOutputFilters are subject filters that together cover everything the router
// publishes: production, every sandbox, the dead letters. Streams capturing any of them
// are where a recovering router looks for what it already stored.
func RouterOutputFilters() []string {
	return []string{EventsPrefix + ".>", CommandsPrefix + ".>", SandboxPrefix + ".>", DeadLetterPrefix + ".>"}
}

// TenantWritableFilter covers the subjects a sandbox credential may publish on; router
// outputs found in streams capturing it are verified against the gateway payload.
func TenantWritableFilter() string { return SandboxPrefix + ".>" }
