package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gaib/api"
	"github.com/arrakis/gaib/sandbox"
)

var apiRe = regexp.MustCompile(`REST API on (http://[0-9.:]+)`)

// apiServe is a `gaib serve --http 127.0.0.1:0` running in-process.
type apiServe struct {
	// NATS is the mesh's URL (the CLI's --server), HTTP the REST API's base URL.
	NATS, HTTP string
	stop       func() int
}

// serveAPI runs gaib serve with the REST API on a free loopback port and learns both
// addresses from its ready line. Its data is in a temp dir unless args give --data-dir.
func serveAPI(t *testing.T, args ...string) *apiServe {
	t.Helper()
	var out syncBuffer
	if !slices.Contains(args, "--data-dir") {
		args = append(args, "--data-dir", t.TempDir())
	}
	url, stop := serveInProcessOut(t, &out, append([]string{"--http", "127.0.0.1:0"}, args...)...)
	m := apiRe.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no REST API in the ready line: %s", out.String())
	}
	return &apiServe{NATS: url, HTTP: m[1], stop: stop}
}

// gaib runs the CLI as the served mesh's admin.
func (s *apiServe) gaib(t *testing.T, args ...string) result {
	t.Helper()
	return served(t, s.NATS, args...)
}

// developer issues a developer identity, writes its credential and returns it.
func (s *apiServe) developer(t *testing.T, name string) string {
	t.Helper()
	creds := filepath.Join(t.TempDir(), name+".creds")
	s.gaib(t, "user", "add", name, "--save", creds).must(t)
	return creds
}

// token issues an API token for identity name (as the admin) and returns it.
func (s *apiServe) token(t *testing.T, name string) string {
	t.Helper()
	return strings.TrimSpace(s.gaib(t, "-q", "user", "token", name).must(t).Stdout)
}

// as is a plain net/http client of the API with a bearer token ("" sends none).
func (s *apiServe) as(token string) *apiClient { return &apiClient{base: s.HTTP, token: token} }

type apiClient struct{ base, token string }

// reply is one HTTP answer, read whole.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (c *apiClient) do(t *testing.T, method, path string, body any) reply {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// ok fails unless the answer has status and decodes its JSON body into v (strictly).
func (r reply) ok(t *testing.T, status int, v any) reply {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if v != nil {
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("body is not the document expected: %v\n%s", err, r.Body)
		}
	}
	return r
}

// problem fails unless the answer is an RFC 9457 problem with status and code, and
// returns it.
func (r reply) problem(t *testing.T, status int, code sandbox.Code) api.Problem {
	t.Helper()
	var p api.Problem
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json (status %d: %s)", ct, r.Status, r.Body)
	}
	r.ok(t, status, &p)
	if p.Code != code || p.Status != status || p.Type != api.ProblemTypePrefix+string(code) || p.Title == "" || p.Detail == "" {
		t.Fatalf("problem %+v, want status %d code %s", p, status, code)
	}
	return p
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	Event, ID string
	Data      json.RawMessage
}

// sseStream reads a text/event-stream answer event by event.
type sseStream struct {
	resp   *http.Response
	events chan sseEvent
}

// stream opens an SSE route and fails unless it answers 200 text/event-stream.
func (c *apiClient) stream(t *testing.T, path string) *sseStream {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("stream %s: %d %s", path, resp.StatusCode, b)
	}
	s := &sseStream{resp: resp, events: make(chan sseEvent, 64)}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = json.RawMessage(strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	return s
}

// next returns the next event, failing after 30 seconds or when the stream ended.
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event within 30s")
	}
	return sseEvent{}
}

// ended fails unless the stream closes within 30 seconds without another event.
func (s *sseStream) ended(t *testing.T) {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			t.Fatalf("event %s after the end: %s", ev.Event, ev.Data)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stream did not end within 30s")
	}
}

// decode parses an event's data strictly.
func (e sseEvent) decode(t *testing.T, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("event %s: %v: %s", e.Event, err, e.Data)
	}
}

// readFile returns a file's content or fails.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
