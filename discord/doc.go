// Package discord is the mesh's Discord REST proxy: the one holder of the bot's real token,
// through which a sandbox's bot worker acts on Discord without ever seeing that token.
//
// A worker gets DISCORD_API_BASE_URL (<proxy>/api/v10) and DISCORD_TOKEN (a per-sandbox
// token derived from the server secret, sandbox.Secret.DiscordToken) and uses its Discord
// library unchanged. For each request the proxy:
//
//  1. parses the request target strictly (only /api/v10, no dot segments, no empty segments,
//     no encoded slashes, a canonical query; absolute targets, method overrides and other
//     versions are refused) and rebuilds the upstream URL itself, so nothing the client sends
//     chooses the host or the path Discord sees;
//  2. identifies the caller: a sandbox token, the real token (production, which may do
//     anything the bot may), or no token for an interaction callback or follow-up;
//  3. applies the policy (policy.go): a sandbox may use routes of its registered guilds, of
//     channels of those guilds (channel map: channels.go), the callbacks and follow-ups of
//     interactions routed to it (interactions.go), and a few harmless global reads;
//     everything else is refused locally with a Discord-shaped 403 that names the reason;
//  4. spends budgets (account.go, limiter.go): the sandbox's own share and invalid-request
//     breaker, then the shared token's global and per-route limits, which pause for everyone
//     when Discord answers 429;
//  5. forwards with the real token (none for interaction routes), strips what the client
//     must not pass or see, and learns the rate-limit headers of the answer.
//
// The deadline guard (guard.go) answers an interaction routed to a sandbox with an
// ephemeral "did not answer in time" message when no callback came through the proxy
// within the deadline, exactly once across every proxy instance (KV compare-and-swap).
//
// State shared between instances lives in two JetStream KV buckets
// (sandbox.BucketDiscordChannels, sandbox.BucketDiscordInteractions); rate-limit budgets
// are per proxy instance.
package discord
