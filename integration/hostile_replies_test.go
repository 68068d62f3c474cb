package integration

import (
	"context"
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
		"$KV." + sandbox.BucketRoutes + "." + guild, sandbox.Request(sandbox.ServiceSandbox, sandbox.OpDestroy, "bob"),
	}
}

// attackReplySubjects has a developer (dev, with her own credential) and a sandbox's worker
// (w, holding what connect gave it) send requests whose reply subjects are forged: to the
// services, to micro discovery, to the config responder. The mesh must answer none of them
// anywhere but an inbox of the requester: the inspector sees nothing on any forged subject,
// and the audit, gateway and victim streams and the routes are as they were. An admin's
// discovery requests ($SRV, answered by micro itself, which no handler check sees) are
// held by the responder's credential alone: nothing outside the identities' inboxes.
func attackReplySubjects(t *testing.T, inspector *nats.Conn, dev *permissionProbe, devName string, w *permissionProbe, admin *permissionProbe, attackerID, victimID, guild string) {
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
		// The worker may ask for its own config, but only into its own inbox.
		if err := w.nc.PublishMsg(&nats.Msg{Subject: sandbox.SandboxSubject(attackerID, "config.get"), Reply: reply}); err != nil {
			t.Fatalf("config.get: %v", err)
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
	for _, s := range forged {
		if msg, err := spies[s].NextMsg(10 * time.Millisecond); err == nil {
			t.Errorf("the mesh published on the forged reply subject %s: %.200s", s, msg.Data)
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
}
