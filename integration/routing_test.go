package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

const (
	guildA = "123456789012345678"
	guildB = "223456789012345678"
)

func envelope(guild, typ string, seq int) []byte {
	var g any
	if guild != "" {
		g = guild
	}
	b, _ := json.Marshal(map[string]any{"event_id": fmt.Sprintf("e-%d", seq), "event_type": typ, "shard_id": 0,
		"timestamp": 1700000000000 + seq, "guild_id": g, "data": map[string]any{"seq": seq}})
	return b
}

func rawDispatch(guild string, seq int) []byte {
	return []byte(fmt.Sprintf(`{"op":0,"t":"GUILD_MEMBER_ADD","s":%d,"d":{"guild_id":%q,"user":{"id":"1"}}}`, seq, guild))
}

func TestRouterSendsEachEventToExactlyOnePlace(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	js, _ := jetstream.New(m.NC)
	sb := m.gaib(t, "--json", "sandbox", "create", "routed", "--guild", guildA).must(t).record(t)
	sbStream := sandbox.SandboxStream(sb.ID)

	huge := []byte(`{"guild_id":"` + guildA + `","data":"` + strings.Repeat("x", 1<<20) + `"}`)
	type event struct {
		subject string
		data    []byte
		to      string // stream it must reach
	}
	events := []event{
		{"gateway.events.member.join", envelope(guildA, "member.join", 1), sbStream},
		{"gateway.events.guild.join", rawDispatch(guildA, 2), sbStream},
		{"gateway.commands.interaction", envelope(guildA, "interaction", 3), sbStream},
		{"gateway.events.member.leave", huge, sbStream},
		{"gateway.events.member.join", envelope(guildB, "member.join", 4), sandbox.StreamEvents},
		{"gateway.events.member.update", rawDispatch(guildB, 5), sandbox.StreamEvents},
		{"gateway.commands.interaction", envelope(guildB, "interaction", 6), sandbox.StreamCommands},
		{"gateway.events.ready", envelope("", "ready", 7), sandbox.StreamEvents},
		{"gateway.events.message.create", []byte("not json at all"), sandbox.StreamEvents},
		{"gateway.events.message.create", []byte{0xff, 0xfe, 0x00, 0x01}, sandbox.StreamEvents},
		{"gateway.events.message.create", []byte(`{"no":"guild"}`), sandbox.StreamEvents},
		{"gateway.events.message.create", []byte(`{"guild_id":"` + guildA), sandbox.StreamEvents},
	}
	hdr := nats.Header{"X-Trace": []string{"trace-1"}}
	for _, e := range events {
		publishGateway(t, js, e.subject, e.data, hdr)
	}
	want := map[string][]event{}
	for _, e := range events {
		want[e.to] = append(want[e.to], e)
	}
	waitCounts(t, js, map[string]uint64{
		sbStream: uint64(len(want[sbStream])), sandbox.StreamEvents: uint64(len(want[sandbox.StreamEvents])),
		sandbox.StreamCommands: uint64(len(want[sandbox.StreamCommands])), sandbox.StreamGateway: uint64(len(events)),
	})
	for stream, evs := range want {
		got := readStream(t, js, stream)
		for i, e := range evs {
			wantSubject := strings.TrimPrefix(e.subject, "gateway.")
			if stream == sbStream {
				wantSubject = sandbox.SandboxSubject(sb.ID, wantSubject)
			}
			if got[i].Subject != wantSubject || !bytes.Equal(got[i].Data, e.data) || got[i].Header.Get("X-Trace") != "trace-1" {
				t.Errorf("%s[%d] = %s %.40q (X-Trace %q), want %s with the unchanged payload and headers",
					stream, i, got[i].Subject, got[i].Data, got[i].Header.Get("X-Trace"), wantSubject)
			}
		}
	}
	// Counters, and the router never consumed its own output.
	st := m.Mesh.Router.Stats(context.Background())
	if st.EventsIn != uint64(len(events)) || st.ToSandbox != 4 || st.ToProduction != 8 || st.ParseErrors != 3 || st.NoGuild != 2 || st.Lag != 0 {
		t.Fatalf("stats = %+v", st)
	}
	var stats []map[string]any
	decodeStrict(t, m.gaib(t, "--json", "router", "stats").must(t).Stdout, &stats)
	if len(stats) != 1 || stats[0]["events_in"] != float64(len(events)) {
		t.Fatalf("router stats through the CLI: %+v", stats)
	}
	var lk services.LookupResponse
	decodeStrict(t, m.gaib(t, "--json", "router", "lookup", guildA).must(t).Stdout, &lk)
	if !lk.Routed || lk.SandboxID != sb.ID {
		t.Fatalf("lookup: %+v", lk)
	}
}

// TestRouteChangesApplyToTheNextEvent registers, unregisters and destroys, and checks the
// very next event after each command (no sleeps: the commands return once routers applied
// the change).
func TestRouteChangesApplyToTheNextEvent(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	js, _ := jetstream.New(m.NC)
	sb := m.gaib(t, "--json", "sandbox", "create", "live").must(t).record(t)
	sbStream := sandbox.SandboxStream(sb.ID)
	seq := 0
	next := func() (string, string) { // publishes one event of guild A; returns where it went
		t.Helper()
		seq++
		before := map[string]uint64{sandbox.StreamEvents: streamCount(t, js, sandbox.StreamEvents)}
		if _, err := js.Stream(context.Background(), sbStream); err == nil {
			before[sbStream] = streamCount(t, js, sbStream)
		}
		publishGateway(t, js, "gateway.events.member.join", envelope(guildA, "member.join", seq), nil)
		var where string
		eventually(t, "the event to be routed", func() bool {
			for s, n := range before {
				if streamCount(t, js, s) > n {
					where = s
					return true
				}
			}
			return false
		})
		msgs := readStream(t, js, where)
		return where, msgs[len(msgs)-1].Subject
	}
	if where, _ := next(); where != sandbox.StreamEvents {
		t.Fatalf("unregistered guild went to %s", where)
	}
	r := m.gaib(t, "--json", "sandbox", "register-guild", "live", guildA).must(t)
	if strings.Contains(r.Stdout, "warning") {
		t.Fatalf("register warned: %s", r.Stdout)
	}
	if where, subj := next(); where != sbStream || subj != sandbox.SandboxSubject(sb.ID, "events.member.join") {
		t.Fatalf("after register: %s %s", where, subj)
	}
	m.gaib(t, "sandbox", "unlink", "live", guildA).must(t)
	if where, _ := next(); where != sandbox.StreamEvents {
		t.Fatalf("after unregister: %s", where)
	}
	m.gaib(t, "sandbox", "link", "live", guildA).must(t)
	if where, _ := next(); where != sbStream {
		t.Fatalf("after re-register: %s", where)
	}
	m.gaib(t, "sandbox", "destroy", "live", "--yes").must(t)
	if where, _ := next(); where != sandbox.StreamEvents {
		t.Fatalf("after destroy: %s", where)
	}
	// Destroy deleted the sandbox's stream with its messages and freed the guild at once.
	if _, err := js.Stream(context.Background(), sbStream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("the destroyed sandbox's stream is still there (%v)", err)
	}
	m.gaib(t, "sandbox", "create", "again", "--guild", guildA).must(t)
}

func TestGuildRegistrationConflicts(t *testing.T) {
	m := startMesh(t, services.MeshConfig{Workers: 8, Sandbox: services.SandboxConfig{MaxPerOwner: 20}})
	names := make([]string, 10)
	for i := range names {
		names[i] = fmt.Sprintf("claim-%d", i)
		m.gaib(t, "sandbox", "create", names[i]).must(t)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[int]int{}
	)
	for _, n := range names {
		wg.Go(func() {
			r := m.gaib(t, "sandbox", "register-guild", n, guildB)
			mu.Lock()
			codes[r.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[0] != 1 || codes[sandbox.ExitConflict] != 9 {
		t.Fatalf("10 concurrent registrations of one guild: exit codes %v", codes)
	}
	holders := 0
	var list []sandbox.Record
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "ls").must(t).Stdout, &list)
	for _, r := range list {
		if len(r.Guilds) > 0 {
			holders++
		}
	}
	if holders != 1 {
		t.Fatalf("%d records list the guild", holders)
	}
	for _, args := range [][]string{
		{"sandbox", "register-guild", "claim-0", "42"},
		{"sandbox", "register-guild", "claim-0", "123456789012345678; DROP"},
		{"sandbox", "create", "x", "--guild", "abc"},
		{"router", "lookup", "1"},
		{"events", "publish", "--guild", "12"},
		{"events", "publish", "--type", "a.>"},
		{"events", "publish", "--data", "[1]"},
	} {
		if r := m.gaib(t, append([]string{"--json"}, args...)...); r.Code != sandbox.ExitUsage {
			t.Errorf("%v: exit %d %s", args, r.Code, r.Stdout)
		}
	}
	if r := m.gaib(t, "--json", "sandbox", "create", "taker", "--guild", guildB); r.Code != sandbox.ExitConflict || r.errorCode(t) != sandbox.CodeGuildTaken {
		t.Fatalf("create with a taken guild: exit %d %s", r.Code, r.Stdout)
	}
	if r := m.gaib(t, "sandbox", "status", "taker"); r.Code != sandbox.ExitNotFound {
		t.Fatal("a create refused for its guild left a sandbox behind")
	}
}

func TestEventsPublishAndTailThroughCLI(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.gaib(t, "sandbox", "create", "tail", "--guild", guildA).must(t)
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- runGaibTo(out, "--server", m.URL, "--creds", m.creds[tester], "--json", "sandbox", "events", "tail", "--all", "--count", "3")
	}()
	m.gaib(t, "events", "publish", "--guild", guildA, "--type", "member.join", "--count", "2").must(t)
	m.gaib(t, "events", "publish", "--guild", guildB, "--type", "member.join").must(t)
	m.gaib(t, "events", "publish", "--guild", guildA, "--type", "interaction", "--raw").must(t)
	if code := <-done; code != 0 {
		t.Fatalf("tail exited %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("tail printed %d lines: %s", len(lines), out.String())
	}
	for i, l := range lines {
		var ev struct {
			Subject string          `json:"subject"`
			Data    json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil || !strings.Contains(string(ev.Data), guildA) {
			t.Fatalf("line %d: %q", i, l)
		}
		if i == 2 && !strings.HasSuffix(ev.Subject, ".commands.interaction") {
			t.Fatalf("interaction went to %s", ev.Subject)
		}
	}
}
