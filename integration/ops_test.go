package integration

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// TestEveryAlertedMetricIsEmitted scrapes a real `gaib serve` and checks that every metric
// named by an alert rule in docs/alerts.yml is in the scrape (the previous implementation
// alerted on four metrics it never emitted).
func TestEveryAlertedMetricIsEmitted(t *testing.T) {
	rules, err := os.ReadFile("../docs/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, m := range regexp.MustCompile(`\bgaib_[a-z_]+`).FindAllString(string(rules), -1) {
		named[m] = true
	}
	if len(named) < 5 {
		t.Fatalf("alerts.yml names only %v", named)
	}
	_, metricsURL, _ := serveWithMetrics(t)
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	emitted := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		emitted[regexp.MustCompile(`^[a-z_]+`).FindString(line)] = true
	}
	for m := range named {
		if !emitted[m] {
			t.Errorf("alerts.yml watches %s, which is not emitted", m)
		}
	}
}

// serveWithMetrics runs `gaib serve` in-process with all planes and returns its NATS and
// metrics URLs.
func serveWithMetrics(t *testing.T) (natsURL, metricsURL string, stop func() int) {
	t.Helper()
	var out syncBuffer
	natsURL, stop = serveInProcessOut(t, &out, "--data-dir", servableDir(t))
	m := metricsRe.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics URL in %q", out.String())
	}
	return natsURL, m[1], stop
}

func TestOrphansAreFoundAndRemovedButLiveSandboxesNeverFlagged(t *testing.T) {
	pm := startPrivatePlaneMesh(t, services.MeshConfig{})
	ctx := context.Background()
	js, _ := jetstream.New(pm.NC)
	live := pm.gaib(t, "--json", "sandbox", "create", "live", "--guild", guildA).must(t).record(t)
	lost := pm.gaib(t, "--json", "sandbox", "create", "lost", "--guild", guildB, "--config", "LOST=1").must(t).record(t)
	gone := pm.gaib(t, "--json", "sandbox", "create", "gone").must(t).record(t)
	pm.gaib(t, "sandbox", "destroy", "gone", "--yes").must(t)
	for _, id := range []string{live.ID, lost.ID} {
		rc := redisClient(t, pm.connectEnv(t, map[string]string{live.ID: "live", lost.ID: "lost"}[id])["REDIS_URL"])
		if err := rc.Set(ctx, sandbox.ResourcesFor(id).RedisPrefix+"k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		publishGateway(t, js, "gateway.events.member.join", envelope(map[string]string{live.ID: guildA, lost.ID: guildB}[id], "member.join", 1), nil)
	}
	waitCounts(t, js, map[string]uint64{sandbox.SandboxStream(live.ID): 1, sandbox.SandboxStream(lost.ID): 1})
	// Look-alikes that are not derived names must never be flagged or dropped.
	admin := pm.admin(t)
	for _, q := range []string{`CREATE SCHEMA sandboxes`, `CREATE SCHEMA "sandbox_"`, `CREATE SCHEMA sandbox_abc`, `CREATE SCHEMA sandbox_abcdefghij_old`} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// "lost" loses its record behind gaib's back, as after a crash or a manual KV purge.
	if err := pm.Store.DeleteRecord(ctx, lost.ID); err != nil {
		t.Fatal(err)
	}

	var rep services.OrphanReport
	decodeStrict(t, pm.gaib(t, "--json", "cleanup", "orphans").must(t).Stdout, &rep)
	stores := map[string]bool{}
	for _, o := range rep.Orphans {
		if o.ID != lost.ID {
			t.Errorf("flagged %s in %s (live %s, destroyed %s)", o.ID, o.Store, live.ID, gone.ID)
		}
		stores[o.Store] = true
	}
	for _, s := range services.OrphanStores {
		if !stores[s] {
			t.Errorf("the lost sandbox's %s resources were not found: %+v", s, rep.Orphans)
		}
	}
	if left := pm.leftovers(t, lost.ID); len(left) != 4 {
		t.Fatalf("listing removed something: %v", left)
	}

	decodeStrict(t, pm.gaib(t, "--json", "cleanup", "orphans", "--remove").must(t).Stdout, &rep)
	if len(rep.Errors) != 0 {
		t.Fatalf("remove errors: %v", rep.Errors)
	}
	if left := pm.leftovers(t, lost.ID); len(left) != 0 {
		t.Fatalf("left after --remove: %v", left)
	}
	decodeStrict(t, pm.gaib(t, "--json", "cleanup", "orphans").must(t).Stdout, &rep)
	if len(rep.Orphans) != 0 {
		t.Fatalf("orphans after removal: %+v", rep.Orphans)
	}
	// The live sandbox and the look-alikes are untouched; the lost guild is free again.
	if left := pm.leftovers(t, live.ID); len(left) != 4 {
		t.Fatalf("live sandbox lost resources: %v", left)
	}
	var schemas []string
	rows, _ := admin.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'sandbox%' ORDER BY 1`)
	schemas, _ = pgx.CollectRows(rows, pgx.RowTo[string])
	for _, s := range []string{"sandbox_", "sandbox_abc", "sandbox_abcdefghij_old", "sandboxes", live.Resources.Schema} {
		if !slices.Contains(schemas, s) {
			t.Errorf("schema %s was dropped (left: %v)", s, schemas)
		}
	}
	if n := streamCount(t, js, sandbox.SandboxStream(live.ID)); n != 1 {
		t.Errorf("the live sandbox's stream holds %d messages, want 1", n)
	}
	if _, err := js.Stream(ctx, sandbox.SandboxStream(lost.ID)); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("the lost sandbox's stream is still there (%v)", err)
	}
	// The lost sandbox's name, guild and quota slot are free again.
	pm.gaib(t, "sandbox", "create", "lost", "--guild", guildB).must(t)
	slots, err := pm.Store.Slots(ctx)
	if err != nil || len(slots["tester"]) != 2 {
		t.Fatalf("quota slots of tester after removal: %v %v", slots, err)
	}
}

// TestInstanceProbes: beside /metrics, each serve answers /healthz (the process runs) and
// /readyz (its connections are up and its router is healthy), for a load balancer or an
// orchestrator; once serve stops, neither answers.
func TestInstanceProbes(t *testing.T) {
	_, metricsURL, stop := serveWithMetrics(t)
	base := strings.TrimSuffix(metricsURL, "/metrics")
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	stop()
	if resp, err := http.Get(base + "/readyz"); err == nil {
		resp.Body.Close()
		t.Errorf("/readyz still answers %d after serve stopped", resp.StatusCode)
	}
}
