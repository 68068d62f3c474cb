package router

import (
	"encoding/json"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// routeTarget decodes a value of the routes bucket into the sandbox id its guild routes
// to. It is the only place in the router that knows the encoding of a route
// (sandbox.ParseRouteValue): a route still pending (its sandbox is being created) routes
// nowhere yet, id "" and ok; a value that is not a route is not ok. Either way the guild's
// events go to production.
func routeTarget(value []byte) (id string, ok bool) {
	id, active, ok := sandbox.ParseRouteValue(string(value))
	if !ok || !active {
		return "", ok
	}
	return id, true
}

// destination is where an event went, for the counters.
type destination uint8

const (
	toProduction destination = iota
	toSandbox
	toDeadLetter
	dropped // not a subject the router routes
)

// note is why an event went to production without a route lookup.
type note uint8

const (
	noNote note = iota
	noGuild
	notJSON
)

// decide returns the output subject of a gateway event, where that is, and the event's
// guild ("" when it has none). It counts nothing: it runs again on every retry, on the
// route table of the moment.
func (r *Router) decide(subject string, payload []byte) (string, destination, string, note) {
	if r.cfg.Route != nil {
		if out := r.cfg.Route(subject, payload); out != "" {
			return out, toProduction, "", noNote
		}
		return "", dropped, "", noNote
	}
	out, ok := sandbox.StripGateway(subject)
	if !ok {
		return "", dropped, "", noNote
	}
	guild, err := GuildID(payload)
	switch {
	case err != nil:
		return out, toProduction, "", notJSON
	case guild == "":
		return out, toProduction, "", noGuild
	}
	if id, ok := r.table.Lookup(guild); ok {
		return sandbox.SandboxSubject(id, out), toSandbox, guild, noNote
	}
	return out, toProduction, guild, noNote
}

// output builds the message the router publishes for gateway event seq: the event,
// unchanged, with the gateway's JetStream controls removed and the router's sequence
// header and message id added.
func output(subject string, seq uint64, stored int64, hdr nats.Header, data []byte) *nats.Msg {
	h := make(nats.Header, len(hdr)+2)
	for k, v := range hdr {
		// Expected sequences, message id, TTL, rollup were meant for the gateway stream.
		if !strings.HasPrefix(k, "Nats-") {
			h[k] = v
		}
	}
	stamp(h, seq, stored)
	return &nats.Msg{Subject: subject, Data: data, Header: h}
}

// stamp sets the headers every output carries: the gateway sequence and the message id.
func stamp(h nats.Header, seq uint64, stored int64) {
	id := sandbox.GatewayMsgID(seq, stored)
	n := len(sandbox.GatewayMsgIDPrefix) + strings.IndexByte(id[len(sandbox.GatewayMsgIDPrefix):], '-')
	vals := [2]string{id[len(sandbox.GatewayMsgIDPrefix):n], id}
	h[sandbox.HeaderGatewaySeq] = vals[0:1:1]
	h[jetstream.MsgIDHeader] = vals[1:2:2]
}

// DeadLetter is the body of a dead-letter reference: the event itself stays in the
// gateway stream (for its retention) at GatewaySeq.
type DeadLetter struct {
	GatewayStream string `json:"gateway_stream"`
	GatewaySeq    uint64 `json:"gateway_seq"`
	Subject       string `json:"subject"`
	Bytes         int    `json:"bytes"`
	Reason        string `json:"reason"`
}

// deadLetter builds the reference published instead of an event too large to forward.
func (r *Router) deadLetter(seq uint64, stored int64, subject string, size int) *nats.Msg {
	prod, ok := sandbox.StripGateway(subject)
	if !ok {
		prod = subject
	}
	const reason = "max_event_bytes"
	body, _ := json.Marshal(DeadLetter{GatewayStream: r.cfg.Stream, GatewaySeq: seq, Subject: subject, Bytes: size, Reason: reason})
	h := nats.Header{sandbox.HeaderDeadLetterReason: []string{reason}}
	stamp(h, seq, stored)
	return &nats.Msg{Subject: sandbox.DeadLetterSubject(prod), Data: body, Header: h}
}

// eventSize is what an event weighs on the wire: payload and headers.
func eventSize(hdr nats.Header, data []byte) int {
	n := len(data)
	for k, vs := range hdr {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}
