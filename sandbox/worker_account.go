package sandbox

// A sandbox's workers connect to an account of their own: one NATS account per sandbox,
// signed by the mesh, that shares nothing with the gaib account or another sandbox's but
// what it imports, subject by subject. An account boundary is what stops the class of
// attacks where a worker has the server publish for it: a request's reply subject is the
// requester's choice, and the server (JetStream answering an API call, a pull, an ack, a
// publish) sends the answer there in the requester's account. In its own account a worker
// can only aim at itself.

// WorkerImport is one subject a sandbox's account imports from the gaib account.
type WorkerImport struct {
	// Subject is the imported subject, the same name on both sides.
	Subject string
	// Stream marks a stream import: messages published in the gaib account flow to the
	// sandbox's subscribers. Otherwise it is a service import: requests flow to the gaib
	// account, and answers come back to the requester's reply subject in its own account.
	Stream bool
	// Responses marks a service that may answer one request with several messages (a
	// pull request, a batched direct get).
	Responses bool
	// Hidden marks an import the credential may not use: it is there for the server alone.
	Hidden bool
}

// WorkerImports are the subjects sandbox id's account imports: its own stream's info and
// direct gets, its durable's info, pulls and acks, publishing (test events) into its own
// stream, and its config (requests, and change notices). Nothing else of the gaib account
// is reachable from it.
func WorkerImports(id string) []WorkerImport {
	stream := SandboxStream(id)
	durable := stream + "." + SandboxConsumer
	return []WorkerImport{
		// The JetStream account info: without an import of it the server answers every
		// JetStream request of an account without JetStream itself ("not enabled"). The
		// credential may not ask it (it is the gaib account's usage).
		{Subject: jsAPI + "INFO", Hidden: true},
		{Subject: jsAPI + "STREAM.INFO." + stream},
		{Subject: jsAPI + "CONSUMER.INFO." + durable},
		{Subject: jsAPI + "CONSUMER.MSG.NEXT." + durable, Responses: true},
		{Subject: jsAck + durable + ".>"},
		{Subject: jsAPI + "DIRECT.GET." + stream, Responses: true},
		{Subject: jsAPI + "DIRECT.GET." + stream + ".>", Responses: true},
		{Subject: SandboxSubject(id, EventsPrefix+".>")},
		{Subject: SandboxSubject(id, CommandsPrefix+".>")},
		{Subject: ConfigGetSubject(id)},
		{Subject: ConfigChangedSubject(id), Stream: true},
	}
}

// WorkerExports are what the gaib account exports for the sandbox accounts: the wildcard
// forms of WorkerImports. Each export requires an activation token, which the mesh signs
// for one sandbox account and that sandbox's own subjects, so no other account can import
// them and no sandbox can import another's.
func WorkerExports() []WorkerImport {
	each := SandboxPrefix + ".*."
	return []WorkerImport{
		{Subject: jsAPI + "INFO"},
		{Subject: jsAPI + "STREAM.INFO.*"},
		{Subject: jsAPI + "CONSUMER.INFO.*.*"},
		{Subject: jsAPI + "CONSUMER.MSG.NEXT.*.*", Responses: true},
		{Subject: jsAck + ">"},
		{Subject: jsAPI + "DIRECT.GET.>", Responses: true},
		{Subject: each + EventsPrefix + ".>"},
		{Subject: each + CommandsPrefix + ".>"},
		{Subject: each + configGetToken},
		{Subject: each + configChangedToken, Stream: true},
	}
}

// WorkerPublish is what a sandbox's credential may publish in its account: its namespace
// (its imports into its own stream and config among it), its inbox, and the JetStream API
// subjects it imports. The account holds nothing else, but the list stays tight so that a
// worker learns at once (a permission error) what it cannot do.
func WorkerPublish(id string) []string {
	out := []string{SandboxWildcard(id), SandboxInbox(id) + ".>"}
	for _, imp := range WorkerImports(id) {
		if !imp.Stream && !imp.Hidden && !isSandboxSubject(imp.Subject) {
			out = append(out, imp.Subject)
		}
	}
	return out
}

// WorkerSubscribe is what a sandbox's credential may subscribe to: its namespace and inbox.
func WorkerSubscribe(id string) []string {
	return []string{SandboxWildcard(id), SandboxInbox(id) + ".>"}
}

func isSandboxSubject(s string) bool {
	return len(s) > len(SandboxPrefix) && s[:len(SandboxPrefix)+1] == SandboxPrefix+"."
}

// The JetStream API and acknowledgement prefixes (nats-server's names).
const (
	jsAPI = "$JS.API."
	jsAck = "$JS.ACK."
)

// ServiceImportReplyPrefix starts the reply subject the server gives a request that came
// through a service import: the answer sent there goes back to the requester's own reply
// subject, in its own account.
const ServiceImportReplyPrefix = "_R_."
