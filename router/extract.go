package router

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/arrakis/gaib/sandbox"
)

// ErrNotJSON means a payload is not a JSON object; such events go to production.
var ErrNotJSON = errors.New("payload is not a JSON object")

// envelope is what the router reads of an event: the Arrakis envelope's guild_id, or a raw
// Discord dispatch's d.guild_id. Everything else is skipped unread.
type envelope struct {
	GuildID json.RawMessage `json:"guild_id"`
	D       json.RawMessage `json:"d"`
}

// GuildID returns the guild an event belongs to: the top-level guild_id of an Arrakis
// envelope, else d.guild_id of a raw Discord dispatch. It returns "" for events without a
// guild (DMs, READY, null, not a snowflake) and ErrNotJSON when the payload is not a JSON
// object. It never panics, whatever the input.
func GuildID(payload []byte) (string, error) {
	p := bytes.TrimLeft(payload, " \t\r\n")
	if len(p) == 0 || p[0] != '{' {
		return "", ErrNotJSON
	}
	var e envelope
	if err := json.Unmarshal(p, &e); err != nil {
		return "", ErrNotJSON
	}
	if g := snowflake(e.GuildID); g != "" {
		return g, nil
	}
	if len(e.D) > 0 && e.D[0] == '{' {
		var d struct {
			GuildID json.RawMessage `json:"guild_id"`
		}
		if json.Unmarshal(e.D, &d) == nil {
			return snowflake(d.GuildID), nil
		}
	}
	return "", nil
}

// snowflake returns the guild id in a JSON string (or bare number), or "" when it is not
// a Discord snowflake.
func snowflake(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] == 'n' {
		return ""
	}
	var s string
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
	} else {
		s = string(raw)
	}
	if sandbox.ValidateGuildID(s) != nil {
		return ""
	}
	return s
}
