package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"

	"github.com/arrakis/gaib/sandbox"
)

// authorize decides whether the request of sandbox caller c concerns it: a route of one
// of its guilds, of a channel in one of them, of an interaction routed to it, or an
// allowed global read. Everything else is refused with the reason.
func (p *Proxy) authorize(ctx context.Context, c *caller, rt route) *refusal {
	switch rt.kind {
	case kindGlobalRead:
		return nil
	case kindGuild:
		if p.cfg.ApplicationID != "" && rt.appID != "" && rt.appID != p.cfg.ApplicationID {
			return forbidden("application %s is not this bot's application", rt.appID)
		}
		if !slices.Contains(c.info.Guilds, rt.guild) {
			return forbidden("guild %s is not registered to sandbox %s", rt.guild, c.info.Name)
		}
		return nil
	case kindChannel:
		return p.ownChannel(ctx, *c, rt.channel)
	case kindCallback, kindFollowup:
		if c.ix == nil {
			ix, ref := p.interaction(ctx, rt)
			if ref != nil {
				return ref
			}
			c.ix = &ix
		}
		if c.ix.Sandbox != c.info.ID {
			return refuse(http.StatusForbidden, discordUnknownInteract, sandbox.CodeDiscordForbidden,
				"this interaction was not routed to this sandbox in the last 15 minutes")
		}
		return nil
	}
	return rt.denial()
}

// ownChannel checks that channel is in a guild registered to the caller. The refusal does
// not say which guild a foreign channel is in.
func (p *Proxy) ownChannel(ctx context.Context, c caller, channel string) *refusal {
	guild, err := p.channels.guildOf(ctx, channel, p.fetchChannel(c.acct))
	if err != nil {
		var ref *refusal
		if errors.As(err, &ref) {
			return ref
		}
		p.log.Warn("discord proxy: channel lookup failed", "channel", channel, "err", err)
		return refuse(http.StatusServiceUnavailable, discordGeneral, sandbox.CodeUnavailable, "cannot look up channel %s now", channel)
	}
	if guild == "" || !slices.Contains(c.info.Guilds, guild) {
		return refuse(http.StatusForbidden, discordUnknownChannel, sandbox.CodeDiscordForbidden,
			"channel %s is not in a guild registered to sandbox %s", channel, c.info.Name)
	}
	return nil
}

// fetchChannel asks Discord for a channel's guild with the bot token, on behalf of acct
// (its budget and breaker count the request: a 403 for a channel the bot cannot see is an
// invalid request). 403 and 404 mean "in no guild of ours".
func (p *Proxy) fetchChannel(acct *account) fetchFunc {
	return func(ctx context.Context, channel string) (string, bool, error) {
		t := target{segs: []string{"channels", channel}}
		resp, ref := p.send(ctx, acct, classify(http.MethodGet, t.segs), http.MethodGet, t,
			http.Header{"User-Agent": {userAgent}}, reqBody{})
		if ref != nil {
			return "", false, ref
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			var ch struct {
				GuildID string `json:"guild_id"`
			}
			if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ch); err != nil {
				return "", false, err
			}
			return ch.GuildID, ch.GuildID != "", nil
		case http.StatusForbidden, http.StatusNotFound:
			return "", false, nil
		case http.StatusTooManyRequests:
			return "", false, rateLimited(retryAfter(resp), false, "looking up channel %s: the bot token's rate limit", channel)
		}
		return "", false, refuse(http.StatusBadGateway, discordGeneral, sandbox.CodeUnavailable,
			"looking up channel %s: Discord answered %d", channel, resp.StatusCode)
	}
}

// inspected reports whether a route's body can point at another channel: a message
// create (message_reference forwards a message from any channel) and following an
// announcement channel (webhook_channel_id gets a webhook created in the target channel).
func inspected(rt route) bool {
	return rt.bucket == "POST channels/{channel}/messages" || rt.bucket == "POST channels/{channel}/followers"
}

// maxJSONPart bounds the JSON read from a multipart body's payload_json or
// message_reference part.
const maxJSONPart = 1 << 20

// inspect reads the body of an inspected route and checks that every channel and guild it
// references belongs to the caller. It returns the body to send (the bytes it read).
func (p *Proxy) inspect(ctx context.Context, c caller, rt route, contentType string, body reqBody) (reqBody, *refusal) {
	if body.r == nil {
		return body, nil
	}
	b, err := io.ReadAll(body.r)
	if err != nil {
		return body, refuse(http.StatusRequestEntityTooLarge, discordTooLarge, sandbox.CodeTooLarge,
			"request body larger than %d bytes", p.cfg.MaxBody)
	}
	out := bytesBody(b)
	refs, err := references(contentType, b)
	if err != nil {
		return out, malformed("cannot read the body's channel references: %v", err)
	}
	for _, ref := range refs {
		switch {
		case ref.guild != "" && !slices.Contains(c.info.Guilds, ref.guild):
			return out, forbidden("the body references guild %s, which is not registered to sandbox %s", ref.guild, c.info.Name)
		case ref.channel != "" && !snowflake(ref.channel):
			return out, malformed("the body references channel %.30q, which is not a snowflake", ref.channel)
		case ref.channel != "" && ref.channel != rt.channel:
			if r := p.ownChannel(ctx, c, ref.channel); r != nil {
				return out, r
			}
		}
	}
	return out, nil
}

// reference is a channel or guild a body points at.
type reference struct{ channel, guild string }

// references extracts message_reference.{channel_id,guild_id} and webhook_channel_id from
// a JSON body or from the payload_json / message_reference parts of a multipart one.
func references(contentType string, b []byte) ([]reference, error) {
	media, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, nil
		}
		return nil, errors.New("no valid Content-Type")
	}
	switch media {
	case "application/json":
		return jsonReferences(b)
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
		var out []reference
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			name := part.FormName()
			if name != "payload_json" && name != "message_reference" {
				continue
			}
			v, err := io.ReadAll(io.LimitReader(part, maxJSONPart))
			if err != nil {
				return nil, err
			}
			if name == "message_reference" {
				v = append(append([]byte(`{"message_reference":`), v...), '}')
			}
			refs, err := jsonReferences(v)
			if err != nil {
				return nil, err
			}
			out = append(out, refs...)
		}
	}
	return nil, errors.New("Content-Type must be application/json or multipart/form-data")
}

// jsonReferences reads the references of one JSON object. Keys are matched exactly (not
// case-folded as encoding/json would) and a duplicate key is an error, so the proxy never
// reads a different value than Discord does.
func jsonReferences(b []byte) ([]reference, error) {
	top, err := strictObject(b)
	if err != nil {
		return nil, err
	}
	var out []reference
	if raw, ok := top["webhook_channel_id"]; ok {
		out = append(out, reference{channel: idValue(raw)})
	}
	if raw, ok := top["message_reference"]; ok && string(raw) != "null" {
		ref, err := strictObject(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, reference{channel: idValue(ref["channel_id"]), guild: idValue(ref["guild_id"])})
	}
	return out, nil
}

// strictObject decodes a JSON object into its raw members, refusing duplicate keys.
func strictObject(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		if _, dup := out[key]; dup {
			return nil, errors.New("duplicate key " + key)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	return out, nil
}

// idValue reads a snowflake given as a JSON string or number; anything else present is
// returned raw, so that it fails the ownership check instead of passing unchecked.
func idValue(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
