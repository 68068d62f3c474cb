package integration

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/arrakis/gaib/cli"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

func TestSandboxesAreIsolatedByTheDatabases(t *testing.T) {
	pm := startPlaneMesh(t, services.MeshConfig{}, nil)
	ctx := context.Background()
	a := pm.gaib(t, "--json", "sandbox", "create", "alpha").must(t).record(t)
	b := pm.gaib(t, "--json", "sandbox", "create", "beta").must(t).record(t)
	envA, envB := pm.connectEnv(t, "alpha"), pm.connectEnv(t, "beta")
	if envA["SANDBOX_SCHEMA"] != a.Resources.Schema || envA["SANDBOX_REDIS_PREFIX"] != a.Resources.RedisPrefix {
		t.Fatalf("connect env does not match the record: %v", envA)
	}
	admin := pm.admin(t)
	if _, err := admin.Exec(ctx, `CREATE TABLE public.production_secrets (v text); INSERT INTO public.production_secrets VALUES ('s3cr3t')`); err != nil {
		t.Fatal(err)
	}

	// A works in its own schema through the URL connect printed, unqualified names and all.
	pa, err := pgx.Connect(ctx, envA["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close(ctx)
	var sp string
	if err := pa.QueryRow(ctx, "SHOW search_path").Scan(&sp); err != nil || sp != a.Resources.Schema {
		t.Fatalf("search_path = %q, %v", sp, err)
	}
	if _, err := pa.Exec(ctx, `INSERT INTO communities (guild_id, name) VALUES ('123456789012345678', 'alpha')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pa.Exec(ctx, `CREATE TABLE scratch (x int); INSERT INTO scratch VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pa.QueryRow(ctx, `SELECT count(*) FROM communities`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
	// B's data in Postgres.
	pb, err := pgx.Connect(ctx, envB["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close(ctx)
	if _, err := pb.Exec(ctx, `INSERT INTO communities (guild_id, name) VALUES ('223456789012345678', 'beta')`); err != nil {
		t.Fatal(err)
	}
	bq := pgx.Identifier{b.Resources.Schema}.Sanitize()
	for _, q := range []string{
		`SELECT count(*) FROM ` + bq + `.communities`,
		`INSERT INTO ` + bq + `.communities (guild_id, name) VALUES ('1', 'x')`,
		`CREATE TABLE ` + bq + `.intruder (x int)`,
		`SELECT * FROM public.production_secrets`,
		`CREATE TABLE public.intruder (x int)`,
		`DROP SCHEMA ` + bq + ` CASCADE`,
		`ALTER ROLE ` + pgx.Identifier{b.Resources.Role}.Sanitize() + ` PASSWORD 'x'`,
		`SET ROLE ` + pgx.Identifier{b.Resources.Role}.Sanitize(),
	} {
		if _, err := pa.Exec(ctx, q); err == nil {
			t.Errorf("sandbox A could run: %s", q)
		}
	}
	// A wrong password is refused.
	cfg, _ := pgx.ParseConfig(envA["DATABASE_URL"])
	cfg.Password = "guess"
	if c, err := pgx.ConnectConfig(ctx, cfg); err == nil {
		c.Close(ctx)
		t.Fatal("a wrong password was accepted")
	}

	// Redis: A may use its prefix only and none of the cross-tenant commands.
	ra, rb := redisClient(t, envA["REDIS_URL"]), redisClient(t, envB["REDIS_URL"])
	if err := ra.Set(ctx, a.Resources.RedisPrefix+"k", "va", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := ra.Get(ctx, a.Resources.RedisPrefix+"k").Result(); err != nil || v != "va" {
		t.Fatalf("get own key: %q %v", v, err)
	}
	if err := rb.Set(ctx, b.Resources.RedisPrefix+"k", "vb", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]any{
		{"GET", b.Resources.RedisPrefix + "k"}, {"SET", b.Resources.RedisPrefix + "k", "x"}, {"DEL", b.Resources.RedisPrefix + "k"},
		{"SET", "unprefixed", "x"}, {"KEYS", "*"}, {"SCAN", "0"}, {"FLUSHALL"}, {"FLUSHDB"}, {"CONFIG", "GET", "*"},
		{"ACL", "LIST"}, {"RANDOMKEY"}, {"DBSIZE"}, {"SELECT", "1"}, {"PUBSUB", "CHANNELS"}, {"CLIENT", "LIST"},
		{"PUBLISH", b.Resources.RedisPrefix + "chan", "x"}, {"INFO"}, {"MONITOR"},
		{"EVAL", "return redis.call('get', KEYS[1])", "1", b.Resources.RedisPrefix + "k"},
	} {
		if err := ra.Do(ctx, cmd...).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("sandbox A ran %v: %v", cmd, err)
		}
	}
	if v, _ := rb.Get(ctx, b.Resources.RedisPrefix+"k").Result(); v != "vb" {
		t.Fatalf("B's key changed: %q", v)
	}

	// What the mesh advertises is what exists.
	st := pm.gaib(t, "--json", "sandbox", "status", "alpha").must(t).Stdout
	var status sandbox.StatusResponse
	decodeStrict(t, st, &status)
	if len(status.Health) != 3 {
		t.Fatalf("health: %+v", status.Health)
	}
	for _, h := range status.Health {
		if !h.OK {
			t.Fatalf("health: %+v", status.Health)
		}
	}
	if left := pm.leftovers(t, a.ID); len(left) != 4 { // schema, role, user, key
		t.Fatalf("advertised resources of A that exist: %v", left)
	}

	// Destroy leaves nothing of A and does not touch B.
	pm.gaib(t, "sandbox", "destroy", "alpha", "--yes").must(t)
	if left := pm.leftovers(t, a.ID); len(left) != 0 {
		t.Fatalf("left behind after destroy: %v", left)
	}
	if err := pa.Ping(ctx); err == nil {
		t.Error("A's open database session survived destroy")
	}
	if err := pb.QueryRow(ctx, `SELECT count(*) FROM communities`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("B's rows after A's destroy: %d %v", n, err)
	}
	if v, _ := rb.Get(ctx, b.Resources.RedisPrefix+"k").Result(); v != "vb" {
		t.Fatalf("B's key after A's destroy: %q", v)
	}
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM public.production_secrets`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("public table after destroy: %d %v", n, err)
	}
}

func TestHealthCheckQueriesTheDatabases(t *testing.T) {
	pm := startPlaneMesh(t, services.MeshConfig{}, nil)
	rec := pm.gaib(t, "--json", "sandbox", "create", "fragile").must(t).record(t)
	ctx := context.Background()
	if _, err := pm.admin(t).Exec(ctx, "DROP SCHEMA "+pgx.Identifier{rec.Resources.Schema}.Sanitize()+" CASCADE"); err != nil {
		t.Fatal(err)
	}
	if err := pm.redisAdmin(t).Do(ctx, "ACL", "DELUSER", rec.Resources.RedisUser).Err(); err != nil {
		t.Fatal(err)
	}
	if err := pm.Store.DeleteSandboxStream(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	// Status reports each plane's real error and exits 7 (unhealthy), its report whole.
	r := pm.gaib(t, "--json", "sandbox", "status", "fragile")
	if r.Code != cli.ExitUnhealthy {
		t.Fatalf("status of a broken sandbox: exit %d", r.Code)
	}
	var st sandbox.StatusResponse
	decodeStrict(t, r.Stdout, &st)
	for _, h := range st.Health {
		if h.OK || h.Message == "" {
			t.Errorf("health %s reports ok for a missing resource: %+v", h.Plane, h)
		}
	}
	r = pm.gaib(t, "sandbox", "status", "fragile")
	if human := r.Stdout; r.Code != cli.ExitUnhealthy || !strings.Contains(human, "FAIL schema "+rec.Resources.Schema+" does not exist") ||
		!strings.Contains(r.Stderr, "sandbox fragile is unhealthy: nats, postgres, redis") {
		t.Errorf("status does not show the failure (exit %d):\n%s%s", r.Code, human, r.Stderr)
	}
	// Destroy still finishes (idempotent teardown of what is left).
	pm.gaib(t, "sandbox", "destroy", "fragile", "--yes").must(t)
	if left := pm.leftovers(t, rec.ID); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// TestEvalConnectWithRealShellAndPsql runs what the README tells users to run, with the
// built binary, sh, psql and redis-cli.
func TestEvalConnectWithRealShellAndPsql(t *testing.T) {
	bin := gaibBinary(t)
	for _, tool := range []string{"psql", "redis-cli"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	pm := startPlaneMesh(t, services.MeshConfig{}, nil)
	pm.gaib(t, "sandbox", "create", "demo").must(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	script := `set -e
eval "$("$GAIB" --server "$MESH" sandbox connect demo)"
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qAt -c "insert into communities (guild_id, name) values ('123456789012345678', 'demo') returning name"
redis-cli --no-auth-warning -u "$REDIS_URL" set "${SANDBOX_REDIS_PREFIX}k" v
if psql "$DATABASE_URL" -qAt -c "select * from public.pg_roles_nope" 2>/dev/null; then echo escaped; fi
redis-cli --no-auth-warning -u "$REDIS_URL" set outside v
`
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = append(os.Environ(), "GAIB="+bin, "MESH="+pm.URL, "MARKER="+marker, "NATS_CREDS="+pm.creds[tester])
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := string(out)
	if !strings.Contains(got, "demo\n") || !strings.Contains(got, "OK\n") || !strings.Contains(got, "NOPERM") || strings.Contains(got, "escaped") {
		t.Fatalf("unexpected output:\n%s", got)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("an injected command ran")
	}
}

func TestRunPassesEnvironmentExitCodeAndSignals(t *testing.T) {
	pm := startPlaneMesh(t, services.MeshConfig{}, nil)
	rec := pm.gaib(t, "--json", "sandbox", "create", "runner").must(t).record(t)
	r := pm.gaib(t, "sandbox", "run", "runner", "--", "sh", "-c", `printf '%s|%s' "$SANDBOX_SCHEMA" "$SANDBOX_ID"; exit 7`)
	if r.Code != 7 || r.Stdout != rec.Resources.Schema+"|"+rec.ID {
		t.Fatalf("run: exit %d stdout %q stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	// As a shell would: 127 for no such command, 126 for one that cannot be executed.
	notExec := filepath.Join(t.TempDir(), "bot")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for cmd, code := range map[string]int{"/nonexistent/bot": cli.ExitCommandNotFound, "no-such-bot-worker": cli.ExitCommandNotFound,
		notExec: cli.ExitCannotRun, t.TempDir(): cli.ExitCannotRun} {
		if r := pm.gaib(t, "sandbox", "run", "runner", "--", cmd); r.Code != code || !strings.Contains(r.Stderr, cmd) {
			t.Errorf("run %s: exit %d, want %d (%q)", cmd, r.Code, code, r.Stderr)
		}
	}
	if r := pm.gaib(t, "sandbox", "run", "ghost", "--", "true"); r.Code != sandbox.ExitNotFound {
		t.Fatalf("run in an unknown sandbox: exit %d", r.Code)
	}
	// Signals reach the child: the built binary, SIGTERM, the child's trap answers.
	bin := gaibBinary(t)
	cmd := exec.Command(bin, "--server", pm.URL, "--creds", pm.creds[tester], "sandbox", "run", "runner", "--", "sh", "-c", `trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done`)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(stdout, buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("child did not start: %q %v", buf, err)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(stdout)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 42 || !strings.Contains(string(rest), "got-term") {
		t.Fatalf("after SIGTERM: exit %d, output %q", code, rest)
	}
}
