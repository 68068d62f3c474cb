package sandbox

import (
	"crypto/hmac"
	"strings"
)

// discordPlane is the plane name the per-sandbox Discord proxy token is derived under, so
// it never equals a Postgres or Redis password of the same sandbox.
const discordPlane = "discord"

// DiscordToken returns the Discord proxy token of sandbox id: "<id>.<base64url mac>", the
// mac being Password("discord", id). A worker sends it as `Authorization: Bot <token>` to
// the mesh's Discord proxy in place of the bot token. Nothing is stored: the proxy derives
// it again to verify it, and rotating the secret revokes every token.
func (s Secret) DiscordToken(id string) string {
	return id + "." + s.Password(discordPlane, id)
}

// VerifyDiscordToken returns the sandbox id a Discord proxy token was derived for, and
// false when the token is not one (wrong shape, unknown secret, tampered id). The mac is
// compared in constant time.
func (s Secret) VerifyDiscordToken(token string) (string, bool) {
	id, mac, ok := strings.Cut(token, ".")
	if !ok || !ValidID(id) || len(s) == 0 {
		return "", false
	}
	want := s.Password(discordPlane, id)
	if !hmac.Equal([]byte(mac), []byte(want)) {
		return "", false
	}
	return id, true
}

// Names of the environment variables `connect`/`run` hand a worker for the Discord proxy.
const (
	// EnvDiscordAPIBaseURL is the sandbox's equivalent of https://discord.com/api/v10.
	EnvDiscordAPIBaseURL = "DISCORD_API_BASE_URL"
	// EnvDiscordToken is the per-sandbox proxy token (never the bot's real token).
	EnvDiscordToken = "DISCORD_TOKEN"
)

// DiscordAPIVersion is the one Discord API version the proxy serves.
const DiscordAPIVersion = "v10"

// DiscordEnv returns what a worker of sandbox id needs to reach Discord through the proxy
// listening at publicURL (e.g. "http://gaib.internal:8090"): DISCORD_API_BASE_URL
// (<publicURL>/api/v10) and DISCORD_TOKEN. It returns nothing when publicURL is empty
// (the proxy is off).
func DiscordEnv(publicURL string, secret Secret, id string) []EnvVar {
	if publicURL == "" {
		return nil
	}
	return []EnvVar{
		{Name: EnvDiscordAPIBaseURL, Value: strings.TrimRight(publicURL, "/") + "/api/" + DiscordAPIVersion},
		{Name: EnvDiscordToken, Value: secret.DiscordToken(id)},
	}
}
