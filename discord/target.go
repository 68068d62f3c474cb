package discord

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/arrakis/gaib/sandbox"
)

// apiPrefix is the only path prefix the proxy serves: the sandbox's /api/v10.
const apiPrefix = "/api/" + sandbox.DiscordAPIVersion + "/"

// Bounds of a request target; Discord's own routes are far inside them.
const (
	maxTargetLen   = 4096
	maxSegments    = 12
	maxQueryParams = 16
)

// methodOverrides are headers some frameworks read to change the method; the proxy
// refuses them rather than guessing which method upstream would see.
var methodOverrides = []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"}

// target is a request target the proxy accepted: the decoded path segments after /api/v10/
// and the re-encoded query. The upstream URL is rebuilt from it alone, so the client never
// chooses the host, the version or a path Discord would normalise differently.
type target struct {
	segs  []string
	query string
}

// parseTarget checks the method and target of r. It reads r.RequestURI, what the client
// really sent, rather than r.URL.Path, which net/http has already decoded.
func parseTarget(r *http.Request) (target, *refusal) {
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return target{}, malformed("method %.10q is not allowed", r.Method)
	}
	for _, h := range methodOverrides {
		if _, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
			return target{}, malformed("header %s is not allowed", h)
		}
	}
	uri := r.RequestURI
	if len(uri) > maxTargetLen {
		return target{}, malformed("request target longer than %d bytes", maxTargetLen)
	}
	if uri == "" || uri[0] != '/' {
		return target{}, malformed("request target must be a path (no absolute URL)")
	}
	if strings.ContainsAny(uri, "#\\") {
		return target{}, malformed("request target must not contain '#' or '\\'")
	}
	rawPath, rawQuery, _ := strings.Cut(uri, "?")
	rest, ok := strings.CutPrefix(rawPath, apiPrefix)
	if !ok {
		return target{}, malformed("only %s… is served (Discord API %s)", apiPrefix, sandbox.DiscordAPIVersion)
	}
	parts := strings.Split(rest, "/")
	if len(parts) > maxSegments {
		return target{}, malformed("path has more than %d segments", maxSegments)
	}
	segs := make([]string, len(parts))
	for i, p := range parts {
		seg, err := url.PathUnescape(p)
		if err != nil || !cleanSegment(seg) {
			return target{}, malformed("path segment %d is not allowed (empty, dot segment, encoded separator or control character)", i+1)
		}
		segs[i] = seg
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return target{}, malformed("query string does not parse")
	}
	if len(q) > maxQueryParams {
		return target{}, malformed("more than %d query parameters", maxQueryParams)
	}
	for k := range q {
		if !snakeCase(k) {
			return target{}, malformed("query parameter %.40q is not a Discord parameter name", k)
		}
	}
	return target{segs: segs, query: q.Encode()}, nil
}

// cleanSegment reports whether a decoded path segment can be passed on as one segment:
// not empty, not a dot segment, no separator, escape or control character, valid UTF-8
// (reaction emoji are the only non-ASCII segments Discord has).
func cleanSegment(s string) bool {
	if s == "" || s == "." || s == ".." || !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || strings.ContainsRune("/\\%?#;", c) {
			return false
		}
	}
	return true
}

func snakeCase(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// path is the upstream path: /v10/<segments re-escaped>[?query].
func (t target) path() string {
	var b strings.Builder
	b.WriteString("/" + sandbox.DiscordAPIVersion)
	for _, s := range t.segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	if t.query != "" {
		b.WriteByte('?')
		b.WriteString(t.query)
	}
	return b.String()
}
