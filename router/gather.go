package router

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/sandbox"
)

// Instances counts the running routers by pinging the router micro service: it waits up to
// first for the first answer, then until no new answer comes for settle.
func Instances(ctx context.Context, nc *nats.Conn, first, settle time.Duration) (int, error) {
	subject, err := micro.ControlSubject(micro.PingVerb, sandbox.ServiceRouter, "")
	if err != nil {
		return 0, err
	}
	replies, err := Gather(ctx, nc, subject, nil, 0, first, settle)
	return len(replies), err
}

// Gather publishes a request on subject and collects replies from every responder: until
// expect replies arrived (expect > 0), or no reply came for settle after the first, or none
// at all within first.
func Gather(ctx context.Context, nc *nats.Conn, subject string, data []byte, expect int, first, settle time.Duration) ([]*nats.Msg, error) {
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, data); err != nil {
		return nil, err
	}
	var out []*nats.Msg
	wait := first
	for expect <= 0 || len(out) < expect {
		wctx, cancel := context.WithTimeout(ctx, wait)
		msg, err := sub.NextMsgWithContext(wctx)
		cancel()
		if err != nil {
			break // quiet long enough, or ctx ended
		}
		if len(msg.Data) == 0 && msg.Header.Get("Status") == "503" {
			break // no responders
		}
		out = append(out, msg)
		if expect <= 0 {
			wait = settle
		}
	}
	return out, ctx.Err()
}

// SyncRequest asks every router to confirm it has applied the route table up to Revision.
type SyncRequest struct {
	Revision uint64 `json:"revision"`
}

// SyncReply is one router's answer.
type SyncReply struct {
	Instance string `json:"instance"`
	Applied  bool   `json:"applied"`
	Revision uint64 `json:"revision"`
}

// SyncTimeout bounds how long a route change waits for every router to apply it.
const SyncTimeout = 3 * time.Second

// Syncer returns a function that waits until every running router has applied the routes
// bucket up to a revision, and returns a warning when some did not confirm in time. The
// sandbox service calls it after every route change, so that the next event of the guild
// goes to the right place.
func Syncer(nc *nats.Conn) func(ctx context.Context, rev uint64) string {
	return func(ctx context.Context, rev uint64) string {
		ctx, cancel := context.WithTimeout(ctx, SyncTimeout)
		defer cancel()
		n, _ := Instances(ctx, nc, time.Second, 50*time.Millisecond)
		if n == 0 {
			return "no router is running: events are not routed until one starts"
		}
		body, _ := json.Marshal(SyncRequest{Revision: rev})
		replies, _ := Gather(ctx, nc, sandbox.Request(sandbox.ServiceRouter, "sync", sandbox.ActorMesh), body, n, SyncTimeout, SyncTimeout)
		applied := 0
		for _, m := range replies {
			var r SyncReply
			if json.Unmarshal(m.Data, &r) == nil && r.Applied {
				applied++
			}
		}
		if applied < n {
			return fmt.Sprintf("only %d of %d routers confirmed the route change within %s", applied, n, SyncTimeout)
		}
		return ""
	}
}
