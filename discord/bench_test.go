package discord_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/arrakis/gaib/discord"
)

// BenchmarkProxyLatency measures what the proxy adds to a request: the same GET against
// the fake Discord directly and through the proxy (sandbox token: target parsing, token
// check, policy, budgets, limiter, header filtering), in the same run.
//
//	go test ./discord -run '^$' -bench ProxyLatency -benchmem
func BenchmarkProxyLatency(b *testing.B) {
	e := newEnv(b, func(c *discord.Config) {
		c.SandboxRPS, c.SandboxesRPS, c.GlobalRPS, c.MaxInFlight = 1e9, 1e9, 2e9, 1<<20
	})
	e.fake.mu.Lock()
	e.fake.forget = true
	e.fake.mu.Unlock()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	get := func(b *testing.B, url, token string) {
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bot "+token)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("%s: %d", url, resp.StatusCode)
			}
		}
	}
	b.Run("direct", func(b *testing.B) { get(b, e.fake.URL+"/v10/guilds/"+g1+"/roles", realToken) })
	b.Run("proxy", func(b *testing.B) { get(b, e.srv.URL+"/api/v10/guilds/"+g1+"/roles", e.token(alphaID)) })
	observeGuild(e.proxy, g1, c1)
	b.Run("proxy-channel", func(b *testing.B) { get(b, e.srv.URL+"/api/v10/channels/"+c1+"/messages", e.token(alphaID)) })
	b.Run("proxy-production", func(b *testing.B) { get(b, e.srv.URL+"/api/v10/guilds/"+g1+"/roles", realToken) })
}

// BenchmarkObserve measures what the router pays per gateway event: a ~1 KB MESSAGE_CREATE
// is skipped after a scan; a CHANNEL_CREATE is decoded and learned.
//
//	go test ./discord -run '^$' -bench Observe -benchmem
func BenchmarkObserve(b *testing.B) {
	e := newEnv(b, nil)
	message := []byte(`{"t":"MESSAGE_CREATE","s":42,"op":0,"d":{"id":"811111111111111111","channel_id":"` + c1 +
		`","guild_id":"` + g1 + `","author":{"id":"412345678901234567","username":"someone","avatar":null},"content":"` +
		strings.Repeat("lorem ipsum ", 70) + `","embeds":[],"attachments":[],"mentions":[],"pinned":false,"type":0}}`)
	channel := []byte(`{"event_id":"e1","event_type":"channel.create","shard_id":0,"guild_id":"` + g1 +
		`","data":{"id":"` + c1 + `","type":0,"guild_id":"` + g1 + `","name":"general","position":0}}`)
	b.Run("skip-message-1KB", func(b *testing.B) {
		b.SetBytes(int64(len(message)))
		for b.Loop() {
			e.proxy.Observe("gateway.events.message.create", message)
		}
	})
	b.Run("channel-create", func(b *testing.B) {
		for b.Loop() {
			e.proxy.Observe("gateway.events.channel.create", channel)
		}
	})
}
