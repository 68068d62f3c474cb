// Package discord is the mesh's Discord REST proxy: the one holder of the bot's real token,
// through which a sandbox's bot worker acts on Discord without ever seeing that token.
//
// A worker gets DISCORD_API_BASE_URL (<proxy>/api/v10) and DISCORD_TOKEN (a per-sandbox
// token derived from the server secret, sandbox.Secret.DiscordToken) and uses its Discord
// library unchanged. For each request the proxy:
//
//  1. parses the request target strictly (only /api/v10, no dot segments, no empty segments,
//     no encoded separators, a re-encoded query; absolute targets, method overrides and
//     other versions are refused) and rebuilds the upstream URL itself, so nothing the
//     client sends chooses the host or the path Discord sees (target.go);
//  2. identifies the caller: a sandbox token, the real token (production, which may do
//     anything the bot may), or no token on an interaction callback or follow-up, which
//     then belongs to the sandbox the interaction was routed to (proxy.go);
//  3. spends the sandbox's own budget: its invalid-request breaker, its in-flight bound and
//     its share of requests per second (account.go);
//  4. applies the policy (route.go, policy.go): a sandbox may use routes of its registered
//     guilds, of channels of those guilds (channel map: channels.go, events.go), the
//     callbacks and follow-ups of interactions routed to it (interactions.go), and GET
//     users/@me, gateway, gateway/bot, applications/@me; a message or follow request whose
//     body references another guild's channel is refused too. Everything else is refused
//     locally with a Discord-shaped JSON 403 that names the reason and carries a gaib_code;
//  5. waits for the shared token's limits (limiter.go): Discord's global limit, a cap on all
//     sandboxes together that keeps the rest for production, and the per-route buckets
//     Discord announces, which a 429 pauses for every caller (everything when global);
//  6. forwards with the real token (none on interaction routes, as Discord expects), passes
//     only an allow-list of headers each way, bounds bodies (25 MiB, Discord's attachment
//     limit for bots) and responses (32 MiB), and learns the rate-limit headers of the
//     answer; 401, 403 and non-shared 429 answers feed the sandbox's breaker (forward.go).
//
// The deadline guard (guard.go) answers an interaction routed to a sandbox with an
// ephemeral "did not answer in time" message when no callback came through the proxy
// within the deadline (counted from the interaction's creation, which its id encodes), at
// most once across every proxy instance: the worker's callback and the guard each move the
// interaction's KV entry out of "pending" by compare-and-swap, and only the winner sends.
//
// # Production
//
// Production may use the proxy with the real token as its Authorization; it is then
// forwarded unrestricted, counted as "production", never charged to a sandbox's budget and
// never behind a sandbox's breaker. Whether or not it does, sandboxes together never get
// more than Config.SandboxesRPS of the global limit.
//
// # Several instances
//
// The channel map and the interactions (with the guard's state) live in JetStream KV
// buckets shared by every instance. Rate-limit state — the global limit, route buckets,
// 429 pauses, the sandboxes' shares and breakers, Usage — is per instance: run one proxy,
// or divide the limits by the number of instances.
package discord
