package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/arrakis/gaib/api"
	"github.com/arrakis/gaib/auth/authtest"
)

// newServer builds the API on a real (operator-mode) NATS connection; the document and
// the routes need no services.
func newServer(t *testing.T) *api.Server {
	t.Helper()
	d := authtest.Start(t, nil)
	s, err := api.New(api.Config{Conn: d.Mesh(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// metaRoute reports whether a route is huma's own: the document in its four shapes and the
// viewer, which describe the operations and are not operations themselves.
func metaRoute(r api.Route) bool {
	return strings.HasPrefix(r.Path, api.OpenAPIPath) || r.Path == api.DocsPath
}

// TestOpenAPIMatchesRoutes checks that every route served is documented and every
// documented operation is served, with a summary, an operation id and its errors.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := newServer(t)
	doc := s.OpenAPI()
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	documented := map[api.Route]*huma.Operation{}
	for path, item := range doc.Paths {
		for method, op := range map[string]*huma.Operation{http.MethodGet: item.Get, http.MethodPost: item.Post,
			http.MethodPut: item.Put, http.MethodDelete: item.Delete, http.MethodPatch: item.Patch} {
			if op != nil {
				documented[api.Route{Method: method, Path: path}] = op
			}
		}
	}
	served := map[api.Route]bool{}
	for _, r := range s.Routes() {
		served[r] = true
		if !metaRoute(r) && documented[r] == nil {
			t.Errorf("route %s %s is served but not documented", r.Method, r.Path)
		}
	}
	if len(documented) < 25 {
		t.Errorf("only %d operations documented", len(documented))
	}
	for r, op := range documented {
		if !served[r] {
			t.Errorf("%s %s is documented but not served", r.Method, r.Path)
		}
		if op.OperationID == "" || op.Summary == "" {
			t.Errorf("%s %s has no operation id or summary", r.Method, r.Path)
		}
		secured := len(op.Security) > 0
		if public := strings.HasPrefix(r.Path, "/healthz") || strings.HasPrefix(r.Path, "/readyz"); secured == public {
			t.Errorf("%s %s: security %v", r.Method, r.Path, op.Security)
		}
		if secured && (op.Responses["401"] == nil || op.Responses["503"] == nil) {
			t.Errorf("%s %s does not document 401 and 503", r.Method, r.Path)
		}
		for code, resp := range op.Responses {
			if code >= "400" && resp.Content["application/problem+json"] == nil {
				t.Errorf("%s %s: error %s is not a problem document", r.Method, r.Path, code)
			}
		}
	}
	// The routes the issue names are there.
	for _, want := range []string{"POST /v1/sandboxes", "GET /v1/sandboxes", "GET /v1/sandboxes/{name}", "DELETE /v1/sandboxes/{name}",
		"POST /v1/sandboxes/{name}/extend", "PUT /v1/sandboxes/{name}/guilds/{guild_id}", "DELETE /v1/sandboxes/{name}/guilds/{guild_id}",
		"GET /v1/sandboxes/{name}/connection", "GET /v1/sandboxes/{name}/events", "GET /v1/sandboxes/{name}/watch",
		"GET /v1/sandboxes/{name}/audit", "POST /v1/users/{user}/tokens", "PUT /v1/guilds/{guild_id}", "GET /healthz", "GET /readyz"} {
		m, p, _ := strings.Cut(want, " ")
		if documented[api.Route{Method: m, Path: p}] == nil {
			t.Errorf("%s is missing", want)
		}
	}
}

// TestOpenAPIExamplesAreValid validates every example in the document against the schema
// it illustrates.
func TestOpenAPIExamplesAreValid(t *testing.T) {
	s := newServer(t)
	doc := s.OpenAPI()
	reg := doc.Components.Schemas
	checked := 0
	var walk func(where string, sc *huma.Schema, seen map[*huma.Schema]bool)
	walk = func(where string, sc *huma.Schema, seen map[*huma.Schema]bool) {
		if sc == nil || seen[sc] {
			return
		}
		seen[sc] = true
		if sc.Ref != "" {
			walk(where, reg.SchemaFromRef(sc.Ref), seen)
		}
		for i, ex := range append(slices.Clone(sc.Examples), exampleOf(sc)...) {
			var v any
			b, _ := json.Marshal(ex)
			_ = json.Unmarshal(b, &v)
			res := &huma.ValidateResult{}
			huma.Validate(reg, sc, huma.NewPathBuffer([]byte{}, 0), huma.ModeReadFromServer, v, res)
			if len(res.Errors) > 0 {
				t.Errorf("%s: example %d (%s) is not valid: %v", where, i, b, res.Errors)
			}
			checked++
		}
		for name, p := range sc.Properties {
			walk(where+"."+name, p, seen)
		}
		walk(where+"[]", sc.Items, seen)
		for _, o := range sc.OneOf {
			walk(where+"|", o, seen)
		}
	}
	for name, sc := range reg.Map() {
		walk(name, sc, map[*huma.Schema]bool{})
	}
	for path, item := range doc.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Delete} {
			if op == nil {
				continue
			}
			for _, p := range op.Parameters {
				if p.Example != nil {
					p.Schema.Examples = append(p.Schema.Examples, p.Example)
				}
				walk(path+" "+p.Name, p.Schema, map[*huma.Schema]bool{})
			}
			if op.RequestBody != nil {
				for _, mt := range op.RequestBody.Content {
					walk(path+" body", mt.Schema, map[*huma.Schema]bool{})
				}
			}
		}
	}
	if checked < 30 {
		t.Fatalf("only %d examples checked", checked)
	}
}

func exampleOf(sc *huma.Schema) []any {
	if sc.Extensions != nil && sc.Extensions["example"] != nil {
		return []any{sc.Extensions["example"]}
	}
	return nil
}

// TestOpenAPIDocumentServed checks the document is served as JSON at /v1/openapi.json
// without a token, and that an unknown route is a problem.
func TestOpenAPIDocumentServed(t *testing.T) {
	s := newServer(t)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 || doc.OpenAPI != "3.1.0" || len(doc.Paths) < 15 {
		t.Fatalf("status %d, %v, %+v", resp.StatusCode, err, doc)
	}
	resp, err = http.Get(ts.URL + "/v2/nothing")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p api.Problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != 404 || p.Code != "not_found" ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unknown route: %d %s %+v", resp.StatusCode, resp.Header.Get("Content-Type"), p)
	}
}
