package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// forgedReplySubjects are where an attacker would like the mesh to publish for it: audit
// entries, gateway and production events, another sandbox's namespace and inbox, another
// identity's inbox, JetStream and KV API calls, another identity's control request.
func forgedReplySubjects(victimID, guild string) []string {
	return []string{
		sandbox.AuditSubject(victimID, "destroy"), sandbox.GatewaySubject("events.member.join"), "events.member.join",
		sandbox.SandboxSubject(victimID, "events.member.join"), sandbox.SandboxInbox(victimID) + ".x",
		sandbox.UserInbox("bob") + ".x", "$JS.API.STREAM.PURGE." + sandbox.StreamAudit,
		"$KV." + sandbox.BucketRoutes + "." + guild, "$KV." + sandbox.BucketUsers + ".alice",
		sandbox.Request(sandbox.ServiceSandbox, sandbox.OpDestroy, "bob"),
	}
}

// attackReplySubjects has a developer (dev, with her own credential) and a sandbox's worker
// (w, holding what connect gave it) send requests whose reply subjects are forged: to the
// services, to micro discovery, to the config responder, and — the worker — to JetStream
// about its own stream (a direct get of a message it stored, a pull, stream and consumer
// info, a publish, an ack), which the server answers wherever the reply says. Nobody may
// make the mesh or the server publish anywhere but in the requester's own inbox: the
// inspector (the gaib account) and the victim sandbox's worker (victim, its own account)
// see nothing, and the audit, gateway, production and victim streams, the users and the
// routes are as they were. An admin's discovery requests ($SRV, answered by micro itself,
// which no handler check sees) are held by the responder's credential alone.
func attackReplySubjects(t *testing.T, inspector *nats.Conn, dev *permissionProbe, devName string, w, victim *permissionProbe, admin *permissionProbe, attackerID, victimID, guild string) {
	t.Helper()
	ctx := context.Background()
	ijs, _ := jetstream.New(inspector)
	streams := []string{sandbox.StreamAudit, sandbox.StreamGateway, sandbox.StreamEvents, sandbox.SandboxStream(victimID)}
	before := map[string]uint64{}
	for _, s := range streams {
		before[s] = streamCount(t, ijs, s)
	}
	routes, err := ijs.KeyValue(ctx, sandbox.BucketRoutes)
	if err != nil {
		t.Fatal(err)
	}
	routeBefore, err := routes.Get(ctx, guild)
	if err != nil {
		t.Fatalf("route of %s: %v", guild, err)
	}
	users, err := ijs.KeyValue(ctx, sandbox.BucketUsers)
	if err != nil {
		t.Fatal(err)
	}
	aliceBefore, err := users.Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}

	forged := forgedReplySubjects(victimID, guild)
	spies := map[string]*nats.Subscription{}
	for _, s := range forged {
		sub, err := inspector.SubscribeSync(s)
		if err != nil {
			t.Fatal(err)
		}
		spies[s] = sub
	}
	if err := inspector.Flush(); err != nil {
		t.Fatal(err)
	}
	var victimSpies []*nats.Subscription
	for _, s := range []string{sandbox.SandboxWildcard(victimID), sandbox.SandboxInbox(victimID) + ".>"} {
		sub, err := victim.nc.SubscribeSync(s)
		if err != nil {
			t.Fatal(err)
		}
		victimSpies = append(victimSpies, sub)
	}
	if err := victim.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// The worker's own bytes in its own stream, shaped as what it would like to plant.
	wjs, _ := jetstream.New(w.nc)
	planted, err := wjs.Publish(ctx, sandbox.SandboxSubject(attackerID, "events.plant"), []byte(`{"name":"alice","role":"admin"}`))
	if err != nil {
		t.Fatalf("the worker cannot publish into its own stream: %v", err)
	}
	stream := sandbox.SandboxStream(attackerID)
	durable := stream + "." + sandbox.SandboxConsumer
	workerRequests := []struct{ subject, body string }{
		{sandbox.ConfigGetSubject(attackerID), ``},
		{"$JS.API.DIRECT.GET." + stream, fmt.Sprintf(`{"seq":%d}`, planted.Sequence)},
		{"$JS.API.CONSUMER.MSG.NEXT." + durable, `{"batch":1,"no_wait":true}`},
		{"$JS.API.STREAM.INFO." + stream, ``},
		{"$JS.API.CONSUMER.INFO." + durable, ``},
		{sandbox.SandboxSubject(attackerID, "events.plant"), `{"name":"alice","role":"admin"}`},
	}

	devRequests := []string{
		sandbox.Request(sandbox.ServiceSandbox, sandbox.OpList, devName),
		sandbox.Request(sandbox.ServiceUser, sandbox.OpWhoAmI, devName),
		sandbox.Request(sandbox.ServiceSandbox, sandbox.OpGet, devName),
		sandbox.Request(sandbox.ServiceRouter, "stats", devName),
		"$SRV.PING", "$SRV.INFO", "$SRV.PING." + sandbox.ServiceSandbox, "$SRV.INFO." + sandbox.ServiceUser,
	}
	for _, reply := range forged {
		for _, subject := range devRequests {
			body := []byte(`{"sandbox":"victim"}`)
			if err := dev.nc.PublishMsg(&nats.Msg{Subject: subject, Reply: reply, Data: body}); err != nil {
				t.Fatalf("publish %s: %v", subject, err)
			}
		}
		if !strings.HasPrefix(reply, "_INBOX.user.") { // admins may be answered in any identity's inbox
			for _, subject := range []string{"$SRV.PING", "$SRV.INFO." + sandbox.ServiceSandbox, "$SRV.STATS." + sandbox.ServiceRouter} {
				if err := admin.nc.PublishMsg(&nats.Msg{Subject: subject, Reply: reply}); err != nil {
					t.Fatalf("publish %s: %v", subject, err)
				}
			}
		}
		// The worker may ask for its own things, but the answers stay in its own account.
		for _, req := range workerRequests {
			if err := w.nc.PublishMsg(&nats.Msg{Subject: req.subject, Reply: reply, Data: []byte(req.body)}); err != nil {
				t.Fatalf("%s: %v", req.subject, err)
			}
		}
	}
	// An acknowledgement with a forged reply, of a message really delivered to it.
	cons, err := wjs.Consumer(ctx, stream, sandbox.SandboxConsumer)
	if err != nil {
		t.Fatalf("the worker's own durable: %v", err)
	}
	if batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second)); err == nil {
		for m := range batch.Messages() {
			for _, reply := range forged {
				_ = w.nc.PublishMsg(&nats.Msg{Subject: m.Reply(), Reply: reply, Data: []byte("+ACK")})
			}
		}
	}
	// Requests into the requester's own inbox are still answered: every forged one was
	// handled by then (or dropped), give the slowest instance a little more.
	if _, err := dev.nc.Request(sandbox.Request(sandbox.ServiceUser, sandbox.OpWhoAmI, devName), nil, 10*time.Second); err != nil {
		t.Fatalf("a proper request was not answered: %v", err)
	}
	if _, err := w.nc.Request(sandbox.SandboxSubject(attackerID, "config.get"), nil, 10*time.Second); err != nil {
		t.Fatalf("the worker's proper config request was not answered: %v", err)
	}
	time.Sleep(time.Second)
	for _, sub := range victimSpies {
		if msg, err := sub.NextMsg(10 * time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
			t.Errorf("the victim sandbox's worker received something on %s: %v %+v", sub.Subject, err, msg)
		}
	}
	for _, s := range forged {
		// Anything but a timeout is a message (a status message comes back as an error).
		if msg, err := spies[s].NextMsg(10 * time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
			t.Errorf("the mesh published on the forged reply subject %s: %v %+v", s, err, msg)
		}
		_ = spies[s].Unsubscribe()
	}
	for _, s := range streams {
		if n := streamCount(t, ijs, s); n != before[s] {
			t.Errorf("stream %s holds %d messages after the forged replies, was %d", s, n, before[s])
		}
	}
	if e, err := routes.Get(ctx, guild); err != nil || e.Revision() != routeBefore.Revision() {
		t.Errorf("the route of %s changed under the forged replies: %v", guild, err)
	}
	if e, err := users.Get(ctx, "alice"); err != nil || e.Revision() != aliceBefore.Revision() {
		t.Errorf("alice's identity changed under the forged replies: %v", err)
	}
}
