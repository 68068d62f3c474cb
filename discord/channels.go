package discord

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// channelWriteQueue bounds the channel-map writes waiting for the KV bucket; Observe never
// blocks the router, and a write dropped when it is full is re-learned on demand.
const channelWriteQueue = 4096

// channelMap answers "which guild is this channel in": from an in-memory LRU, else the
// shared KV bucket (fed by gateway events of routed guilds), else one GET /channels/{id}
// through the bot token, whose answer is cached — negative ones for NegativeTTL.
type channelMap struct {
	kv     jetstream.KeyValue
	routes GuildRoutes
	clock  Clock
	negTTL time.Duration
	log    *slog.Logger
	cache  *lru[channelEntry]
	writes chan channelWrite

	mu       sync.Mutex
	inflight map[string]*lookup

	stats struct{ memory, kv, fetched, negative, dropped, observed atomic.Uint64 }
}

// channelEntry is a cached answer; guild "" is a negative one, valid until expires.
type channelEntry struct {
	guild   string
	expires time.Time
}

// channelWrite is a KV change queued by Observe or a fetch: put channel → guild, or delete.
type channelWrite struct {
	channel, guild string
}

// lookup is one fetch in flight that concurrent askers of the same channel wait for.
type lookup struct {
	done  chan struct{}
	guild string
	err   error
}

// fetchFunc asks Discord for a channel's guild: found false when Discord says the channel
// does not exist or is not visible (and then it is cached as negative).
type fetchFunc func(ctx context.Context, channel string) (guild string, found bool, err error)

func newChannelMap(kv jetstream.KeyValue, routes GuildRoutes, cfg Config, log *slog.Logger) *channelMap {
	return &channelMap{
		kv: kv, routes: routes, clock: cfg.Clock, negTTL: cfg.NegativeTTL, log: log,
		cache: newLRU[channelEntry](cfg.ChannelCache), writes: make(chan channelWrite, channelWriteQueue),
		inflight: map[string]*lookup{},
	}
}

// guildOf returns the guild of channel, "" when it is in none the bot can see.
func (m *channelMap) guildOf(ctx context.Context, channel string, fetch fetchFunc) (string, error) {
	if e, ok := m.cache.get(channel); ok && (e.guild != "" || m.clock.Now().Before(e.expires)) {
		m.stats.memory.Add(1)
		return e.guild, nil
	}
	m.mu.Lock()
	if l, ok := m.inflight[channel]; ok {
		m.mu.Unlock()
		select {
		case <-l.done:
			return l.guild, l.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	l := &lookup{done: make(chan struct{})}
	m.inflight[channel] = l
	m.mu.Unlock()
	l.guild, l.err = m.resolve(ctx, channel, fetch)
	m.mu.Lock()
	delete(m.inflight, channel)
	m.mu.Unlock()
	close(l.done)
	return l.guild, l.err
}

// resolve reads the KV bucket, then asks Discord, and caches the answer.
func (m *channelMap) resolve(ctx context.Context, channel string, fetch fetchFunc) (string, error) {
	e, err := m.kv.Get(ctx, sandbox.DiscordChannelKey(channel))
	switch {
	case err == nil:
		m.stats.kv.Add(1)
		guild := string(e.Value())
		m.cache.put(channel, channelEntry{guild: guild})
		return guild, nil
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return "", err
	}
	guild, found, err := fetch(ctx, channel)
	if err != nil {
		return "", err
	}
	m.stats.fetched.Add(1)
	if !found || !snowflake(guild) {
		m.stats.negative.Add(1)
		m.cache.put(channel, channelEntry{expires: m.clock.Now().Add(m.negTTL)})
		return "", nil
	}
	m.learn(channel, guild)
	return guild, nil
}

// learn records channel → guild in memory, and in KV when the guild is routed to a
// sandbox (the only channels a sandbox may ask about, which keeps the bucket small).
func (m *channelMap) learn(channel, guild string) {
	if e, ok := m.cache.get(channel); ok && e.guild == guild {
		return
	}
	m.cache.put(channel, channelEntry{guild: guild})
	if _, routed := m.routes.Lookup(guild); routed {
		m.enqueue(channelWrite{channel: channel, guild: guild})
	}
}

// forget removes a deleted channel.
func (m *channelMap) forget(channel, guild string) {
	m.cache.remove(channel)
	if _, routed := m.routes.Lookup(guild); routed {
		m.enqueue(channelWrite{channel: channel})
	}
}

func (m *channelMap) enqueue(w channelWrite) {
	select {
	case m.writes <- w:
	default:
		m.stats.dropped.Add(1)
	}
}

// write applies queued changes to the KV bucket until ctx ends.
func (m *channelMap) write(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case w := <-m.writes:
			key := sandbox.DiscordChannelKey(w.channel)
			var err error
			if w.guild == "" {
				err = m.kv.Delete(ctx, key)
			} else {
				_, err = m.kv.Put(ctx, key, []byte(w.guild))
			}
			if err != nil && ctx.Err() == nil {
				m.log.Warn("discord proxy: channel map write failed", "channel", w.channel, "err", err)
			}
		}
	}
}
