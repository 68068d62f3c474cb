package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// KV buckets of the Discord proxy, shared by every proxy instance.
const (
	// BucketDiscordChannels maps a channel (or thread) id to its guild id, for the channels
	// of guilds routed to a sandbox.
	BucketDiscordChannels = "gaib_discord_channels"
	// BucketDiscordInteractions remembers, for their 15 minutes, the interactions routed to
	// a sandbox and whether they were answered (the deadline guard's state).
	BucketDiscordInteractions = "gaib_discord_interactions"
)

// Codes of the Discord proxy's refusals (they travel as "gaib_code" next to Discord's own
// numeric code).
const (
	// CodeDiscordForbidden: the request does not concern the sandbox (another guild, a
	// global route, a path trick).
	CodeDiscordForbidden Code = "discord_forbidden"
	// CodeDiscordUnauthorized: no valid proxy token.
	CodeDiscordUnauthorized Code = "discord_unauthorized"
	// CodeDiscordRateLimited: the sandbox's budget or invalid-request breaker, or the
	// shared token's limits, refused the request locally.
	CodeDiscordRateLimited Code = "discord_rate_limited"
)

// SandboxCommandsFilter is the subject filter of every interaction routed to any sandbox:
// sandbox.*.commands.>.
func SandboxCommandsFilter() string { return SandboxPrefix + ".*." + CommandsPrefix + ".>" }

// SandboxOfSubject returns the sandbox id of a routed subject (sandbox.<id>.…).
func SandboxOfSubject(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, SandboxPrefix+".")
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, ".")
	if !ok || !ValidID(id) {
		return "", false
	}
	return id, true
}

// DiscordInteractionKey returns the key of an interaction in BucketDiscordInteractions:
// base64url(SHA-256(token)). Interaction tokens are long and of an alphabet KV keys do not
// allow; the hash is a valid key and does not put the token in a subject.
func DiscordInteractionKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// DiscordChannelKey returns the key of a channel in BucketDiscordChannels: its snowflake.
func DiscordChannelKey(channelID string) string { return channelID }
