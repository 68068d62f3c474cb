package discord

import (
	"bytes"
	"encoding/json"
)

// eventKind is what Observe does with a gateway event.
type eventKind int

const (
	eventIgnored    eventKind = iota
	eventGuild                // GUILD_CREATE: the guild's channels and threads
	eventChannel              // CHANNEL_CREATE/UPDATE, THREAD_CREATE/UPDATE: one channel
	eventDeleted              // CHANNEL_DELETE, THREAD_DELETE
	eventThreadSync           // THREAD_LIST_SYNC: threads of a guild
)

// eventKinds names the events of interest in Discord's spelling; an Arrakis envelope's
// dotted lower-case type ("channel.create") matches the same entry, and "guild.join" is
// the envelope's name for a GUILD_CREATE.
var eventKinds = map[string]eventKind{
	"GUILD_CREATE": eventGuild, "GUILD_JOIN": eventGuild,
	"CHANNEL_CREATE": eventChannel, "CHANNEL_UPDATE": eventChannel, "CHANNEL_DELETE": eventDeleted,
	"THREAD_CREATE": eventChannel, "THREAD_UPDATE": eventChannel, "THREAD_DELETE": eventDeleted,
	"THREAD_LIST_SYNC": eventThreadSync,
}

// Observe learns channel → guild from one gateway event. The router calls it for every
// event it reads, so it returns after a scan for the event type unless the event is
// GUILD_CREATE (guild.join), CHANNEL_*, THREAD_* (raw dispatch "t" or envelope
// "event_type"); only then is the payload decoded. Only channels of guilds routed to a
// sandbox are kept. It never blocks: KV writes are queued (and dropped when the queue is
// full — a missed channel is looked up on demand).
func (p *Proxy) Observe(subject string, payload []byte) {
	kind := eventKindOf(payload)
	if kind == eventIgnored {
		return
	}
	p.channels.stats.observed.Add(1)
	obj, envGuild, ok := eventObject(payload)
	if !ok {
		return
	}
	var d struct {
		ID       string       `json:"id"`
		GuildID  string       `json:"guild_id"`
		Channels []channelRef `json:"channels"`
		Threads  []channelRef `json:"threads"`
	}
	if json.Unmarshal(obj, &d) != nil {
		return
	}
	guild := d.GuildID
	if kind == eventGuild {
		guild = d.ID
	}
	if guild == "" {
		guild = envGuild
	}
	if !snowflake(guild) {
		return
	}
	learn := func(refs []channelRef) {
		for _, c := range refs {
			if snowflake(c.ID) {
				p.channels.learn(c.ID, guild)
			}
		}
	}
	switch kind {
	case eventGuild:
		learn(d.Channels)
		learn(d.Threads)
	case eventThreadSync:
		learn(d.Threads)
	case eventChannel:
		learn([]channelRef{{ID: d.ID}})
	case eventDeleted:
		if snowflake(d.ID) {
			p.channels.forget(d.ID, guild)
		}
	}
}

// eventObject returns the Discord object of a gateway event — "d" of a raw dispatch,
// "data" of an Arrakis envelope — and the envelope's guild_id.
func eventObject(payload []byte) (obj json.RawMessage, guild string, ok bool) {
	var ev struct {
		D       json.RawMessage `json:"d"`
		Data    json.RawMessage `json:"data"`
		GuildID string          `json:"guild_id"`
	}
	if json.Unmarshal(payload, &ev) != nil {
		return nil, "", false
	}
	if len(ev.D) > 0 {
		return ev.D, ev.GuildID, true
	}
	return ev.Data, ev.GuildID, true
}

type channelRef struct {
	ID string `json:"id"`
}

// maxTypeLen bounds the event type Observe reads; longer values are no type it knows.
const maxTypeLen = 32

// eventKindOf returns the kind of the first `"t":"…"` or `"event_type":"…"` value in
// payload — a scan, not a parse, and no allocation: both formats put the type before the
// data, so the first match is the type. A false match only costs a decode; a miss only
// means the channel is looked up on demand.
func eventKindOf(b []byte) eventKind {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return eventIgnored
		}
		i += j + 1
		rest := b[i:]
		switch {
		case bytes.HasPrefix(rest, []byte(`t"`)):
			i += 2
		case bytes.HasPrefix(rest, []byte(`event_type"`)):
			i += len(`event_type"`)
		default:
			continue
		}
		k := skipSpace(b, i)
		if k >= len(b) || b[k] != ':' {
			continue
		}
		k = skipSpace(b, k+1)
		if k >= len(b) || b[k] != '"' {
			continue
		}
		end := bytes.IndexByte(b[k+1:min(len(b), k+2+maxTypeLen)], '"')
		if end < 0 {
			return eventIgnored
		}
		var buf [maxTypeLen]byte
		n := normalType(buf[:], b[k+1:k+1+end])
		return eventKinds[string(buf[:n])]
	}
	return eventIgnored
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// normalType copies an event type into buf upper-cased, dots turned into underscores
// ("channel.create" → "CHANNEL_CREATE"), and returns its length.
func normalType(buf, v []byte) int {
	n := copy(buf, v)
	for i := range n {
		switch c := buf[i]; {
		case c >= 'a' && c <= 'z':
			buf[i] = c - 'a' + 'A'
		case c == '.':
			buf[i] = '_'
		}
	}
	return n
}
