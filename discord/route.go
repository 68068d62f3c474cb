package discord

import (
	"net/http"
	"strings"

	"github.com/arrakis/gaib/sandbox"
)

// kind is what a route concerns, which decides whether a sandbox may use it.
type kind int

const (
	kindOther      kind = iota // nothing a sandbox may use
	kindGlobalRead             // a harmless read of the bot's own global state
	kindGuild                  // guilds/{guild}/… and applications/{app}/guilds/{guild}/commands…
	kindChannel                // channels/{channel}/…
	kindCallback               // interactions/{id}/{token}/callback
	kindFollowup               // webhooks/{application}/{token}[/messages/{id|@original}]
)

// route is a request target classified: what it concerns, and the rate-limit bucket it
// falls in.
type route struct {
	kind    kind
	guild   string
	channel string
	// interaction routes: the interaction id (callbacks), application id (follow-ups) and
	// interaction token.
	interactionID, appID, token string
	// bucket is the rate-limit route: the method and the path with minor ids templated;
	// major is the value of its major parameters (channel, guild, webhook or interaction).
	bucket, major string
	// global: the request counts toward the global limit (interaction routes do not).
	global bool
}

// globalReads are the global routes a sandbox may GET: its own user, gateway and
// application information.
var globalReads = map[string]bool{"users/@me": true, "gateway": true, "gateway/bot": true, "applications/@me": true}

// classify returns the route of method and segs (a parsed target).
func classify(method string, segs []string) route {
	r := route{global: true}
	r.bucket, r.major = bucketOf(method, segs)
	n := len(segs)
	switch {
	case n >= 2 && segs[0] == "guilds" && snowflake(segs[1]):
		r.kind, r.guild = kindGuild, segs[1]
	case n >= 2 && segs[0] == "channels" && snowflake(segs[1]):
		r.kind, r.channel = kindChannel, segs[1]
	case n >= 5 && segs[0] == "applications" && snowflake(segs[1]) && segs[2] == "guilds" &&
		snowflake(segs[3]) && segs[4] == "commands":
		r.kind, r.appID, r.guild = kindGuild, segs[1], segs[3]
	case n == 4 && segs[0] == "interactions" && snowflake(segs[1]) && tokenShaped(segs[2]) &&
		segs[3] == "callback" && method == http.MethodPost:
		r.kind, r.interactionID, r.token, r.global = kindCallback, segs[1], segs[2], false
	case n >= 3 && segs[0] == "webhooks" && snowflake(segs[1]) && tokenShaped(segs[2]) && followupTail(method, segs[3:]):
		r.kind, r.appID, r.token, r.global = kindFollowup, segs[1], segs[2], false
	case method == http.MethodGet && globalReads[strings.Join(segs, "/")]:
		r.kind = kindGlobalRead
	}
	return r
}

// followupTail reports whether the rest of a webhooks/{app}/{token} path is an interaction
// follow-up: POST (a new follow-up message), or GET/PATCH/DELETE of messages/{id|@original}.
func followupTail(method string, tail []string) bool {
	switch len(tail) {
	case 0:
		return method == http.MethodPost
	case 2:
		return tail[0] == "messages" && (tail[1] == "@original" || snowflake(tail[1])) &&
			(method == http.MethodGet || method == http.MethodPatch || method == http.MethodDelete)
	}
	return false
}

// denial explains why a sandbox may not use a route of kind kindOther.
func (r route) denial() *refusal {
	t := r.bucket
	switch {
	case strings.Contains(t, " applications/{id}/commands"):
		return forbidden("global command registration (%s) is not allowed for a sandbox; register guild commands in its guild (applications/{application}/guilds/{guild}/commands)", t)
	case strings.HasPrefix(t, "POST users/@me/channels"):
		return forbidden("opening DMs (%s) is not allowed for a sandbox", t)
	}
	return forbidden("%s is not allowed for a sandbox: only routes of its guilds and their channels, callbacks of its interactions and GET users/@me, gateway, gateway/bot, applications/@me", t)
}

// bucketOf templates a path for rate limiting the way Discord groups routes: the major
// parameter (channel, guild, webhook id and token, interaction) is kept apart as major,
// other snowflakes and reaction emoji become placeholders, tokens never appear.
func bucketOf(method string, segs []string) (bucket, major string) {
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte(' ')
	for i, s := range segs {
		if i > 0 {
			b.WriteByte('/')
		}
		first := segs[0]
		switch {
		case i == 1 && (first == "channels" || first == "guilds" || first == "webhooks" || first == "interactions") && snowflake(s):
			major = s
			b.WriteString("{" + strings.TrimSuffix(first, "s") + "}")
		case i == 2 && (first == "webhooks" || first == "interactions"):
			major += "/" + sandbox.DiscordInteractionKey(s)
			b.WriteString("{token}")
		case snowflake(s):
			b.WriteString("{id}")
		case i > 0 && segs[i-1] == "reactions":
			b.WriteString("{emoji}")
		default:
			b.WriteString(s)
		}
	}
	return b.String(), major
}

// snowflake reports whether s is a Discord id: 17 to 20 digits.
func snowflake(s string) bool { return sandbox.ValidateGuildID(s) == nil }

// tokenShaped reports whether s can be an interaction or webhook token: URL-safe
// characters, bounded length.
func tokenShaped(s string) bool {
	if len(s) < 16 || len(s) > 512 || snowflake(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}
