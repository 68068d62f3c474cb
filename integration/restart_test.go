package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gaib/cli"
	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/embedded"
	"github.com/arrakis/gaib/sandbox"
)

// background is a CLI command running in-process while a test acts around it.
type background struct {
	out, err *syncBuffer
	done     chan int
	cancel   context.CancelFunc
}

// startBackground runs gaib args in-process until it ends or the test does.
func startBackground(t *testing.T, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{out: &syncBuffer{}, err: &syncBuffer{}, done: make(chan int, 1), cancel: cancel}
	go func() { b.done <- cli.Main(ctx, args, &cli.IO{Stdout: b.out, Stderr: b.err}) }()
	t.Cleanup(func() {
		cancel()
		<-b.done
	})
	return b
}

// exit waits for the command to end by itself and returns its exit code.
func (b *background) exit(t *testing.T, what string) int {
	t.Helper()
	select {
	case code := <-b.done:
		b.done <- code
		return code
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not end\nstdout: %s\nstderr: %s", what, b.out.String(), b.err.String())
		return -1
	}
}

// running fails the test if the command has ended.
func (b *background) running(t *testing.T, what string) {
	t.Helper()
	select {
	case code := <-b.done:
		b.done <- code
		t.Fatalf("%s ended with exit %d\nstdout: %s\nstderr: %s", what, code, b.out.String(), b.err.String())
	default:
	}
}

// jsonLines decodes every line of s into a T.
func jsonLines[T any](t *testing.T, s string) []T {
	t.Helper()
	var out []T
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		out = append(out, v)
	}
	return out
}

// restartableServe serves a mesh on a fixed port and data dir, so that a test can stop it
// and start it again where clients left it.
func restartableServe(t *testing.T) (url string, args []string) {
	t.Helper()
	port, err := embedded.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	args = []string{"--data-dir", t.TempDir(), "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--no-postgres", "--no-redis", "--workers", "2"}
	return fmt.Sprintf("nats://127.0.0.1:%d", port), args
}

// TestWatchAndEventsRideOutAMeshRestart stops the mesh under a running `status --watch`
// and `sandbox events`, starts it again on the same port and data dir, and checks that
// both said so and keep working: the watch shows the next change, the tail the next event
// (none missed, none twice), and both end when the sandbox is destroyed.
func TestWatchAndEventsRideOutAMeshRestart(t *testing.T) {
	url, args := restartableServe(t)
	got, stop := serveInProcess(t, args...)
	if got != url {
		t.Fatalf("serve on %s, want %s", got, url)
	}
	rec := served(t, url, "--json", "sandbox", "create", "phoenix", "--guild", guildA).must(t).record(t)
	creds, _ := servedCreds.Load(url)
	as := []string{"--server", url, "--creds", creds.(string), "--timeout", "90s", "-o", "json"}
	watch := startBackground(t, append(as, "sandbox", "status", "phoenix", "--watch")...)
	tail := startBackground(t, append(as, "sandbox", "events", "phoenix")...)
	eventually(t, "the watch to show the sandbox", func() bool { return strings.Count(watch.out.String(), "\n") >= 1 })
	// The tail starts at the next event: publish until it has one.
	eventually(t, "the tail to show an event", func() bool {
		served(t, url, "events", "publish", "--guild", guildA, "--data", `{"n":1}`).must(t)
		return strings.Contains(tail.out.String(), `"n":1`)
	})

	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	for name, b := range map[string]*background{"watch": watch, "events": tail} {
		eventually(t, name+" to say the mesh is gone", func() bool { return strings.Contains(b.err.String(), "lost the mesh at "+url) })
		b.running(t, name)
	}
	serveInProcess(t, args...)
	for name, b := range map[string]*background{"watch": watch, "events": tail} {
		eventually(t, name+" to say the mesh is back", func() bool { return strings.Contains(b.err.String(), "the mesh is back") })
	}

	served(t, url, "sandbox", "extend", "phoenix", "--ttl", "1h").must(t)
	eventually(t, "the watch to show the extension", func() bool {
		states := jsonLines[sandbox.StatusResponse](t, watch.out.String())
		return states[len(states)-1].ExpiresAt.After(rec.ExpiresAt)
	})
	served(t, url, "events", "publish", "--guild", guildA, "--data", `{"n":2}`).must(t)
	eventually(t, "the tail to show the event published after the restart", func() bool { return strings.Contains(tail.out.String(), `"n":2`) })
	evs := jsonLines[client.Event](t, tail.out.String())
	for i := 1; i < len(evs); i++ {
		if evs[i].Sequence != evs[i-1].Sequence+1 {
			t.Fatalf("the tail missed or repeated events across the restart: %s", tail.out.String())
		}
	}

	served(t, url, "sandbox", "destroy", "phoenix", "--yes").must(t)
	if code := watch.exit(t, "the watch"); code != 0 {
		t.Fatalf("watch exited %d: %s", code, watch.err.String())
	}
	if states := jsonLines[sandbox.StatusResponse](t, watch.out.String()); states[len(states)-1].Status != sandbox.StatusDestroyed {
		t.Fatalf("the watch's last state: %s", states[len(states)-1].Status)
	}
	if code := tail.exit(t, "the tail"); code != 0 {
		t.Fatalf("events exited %d: %s", code, tail.err.String())
	}
}

// TestWatchAndEventsGiveUpWhenTheMeshStaysAway stops the mesh for good: both commands say
// it is gone, then give up after --timeout with exit 5 and the usual hint (as an error
// document after the stream with -o json).
func TestWatchAndEventsGiveUpWhenTheMeshStaysAway(t *testing.T) {
	url, args := restartableServe(t)
	_, stop := serveInProcess(t, args...)
	served(t, url, "sandbox", "create", "mortal").must(t)
	creds, _ := servedCreds.Load(url)
	as := []string{"--server", url, "--creds", creds.(string), "--timeout", "3s"}
	watch := startBackground(t, append(as, "-o", "json", "sandbox", "status", "mortal", "--watch")...)
	tail := startBackground(t, append(as, "sandbox", "events", "mortal")...)
	eventually(t, "the watch to show the sandbox", func() bool { return strings.Contains(watch.out.String(), "mortal") })
	eventually(t, "the tail to follow the sandbox", func() bool { return strings.Contains(tail.err.String(), "Following sandbox mortal") })
	stop()
	for name, b := range map[string]*background{"watch": watch, "events": tail} {
		if code := b.exit(t, name); code != sandbox.ExitUnreachable {
			t.Fatalf("%s exited %d: %s %s", name, code, b.err.String(), b.out.String())
		}
		if e := b.err.String(); !strings.Contains(e, "lost the mesh at "+url) {
			t.Fatalf("%s did not say the mesh was lost: %s", name, e)
		}
	}
	if e := tail.err.String(); !strings.Contains(e, "start it with `gaib serve`") {
		t.Fatalf("events gave up without the hint: %s", e)
	}
	out := watch.out.String()
	i := strings.Index(out, "{\n  \"error\"")
	var doc sandbox.ErrorBody
	if i < 0 {
		t.Fatalf("watch -o json did not end with an error document: %q", out)
	}
	decodeStrict(t, out[i:], &doc)
	if doc.Error.Code != sandbox.CodeUnavailable || !strings.Contains(doc.Error.Message, "gaib serve") {
		t.Fatalf("watch's error document: %+v", doc.Error)
	}
}
