package discord_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

func TestTheChannelMapLearnsFromGatewayEvents(t *testing.T) {
	e := newEnv(t, generous)
	const (
		thread = "411111111111111111"
		newCh  = "511111111111111111"
		newTh  = "611111111111111111"
		synced = "711111111111111111"
	)
	events := []string{
		// raw GUILD_CREATE with channels and threads
		`{"t":"GUILD_CREATE","s":1,"op":0,"d":{"id":"` + g1 + `","channels":[{"id":"` + c1 + `","type":0}],"threads":[{"id":"` + thread + `","type":11,"parent_id":"` + c1 + `"}],"members":[{"user":{"id":"1"}}]}}`,
		// Arrakis envelope of a CHANNEL_CREATE
		`{"event_id":"e1","event_type":"channel.create","shard_id":0,"timestamp":1,"guild_id":"` + g1 + `","channel_id":"` + newCh + `","user_id":null,"data":{"id":"` + newCh + `","type":0,"guild_id":"` + g1 + `"}}`,
		// raw THREAD_CREATE and THREAD_LIST_SYNC
		`{"op":0,"t":"THREAD_CREATE","s":2,"d":{"id":"` + newTh + `","guild_id":"` + g1 + `","parent_id":"` + c1 + `","type":11}}`,
		`{"op":0,"t":"THREAD_LIST_SYNC","s":3,"d":{"guild_id":"` + g1 + `","threads":[{"id":"` + synced + `"}]}}`,
		// production's guild: known in memory, not stored
		`{"t":"GUILD_CREATE","op":0,"d":{"id":"` + g2 + `","channels":[{"id":"` + c2 + `"}]}}`,
	}
	for _, ev := range events {
		e.proxy.Observe("gateway.events.x", []byte(ev))
	}
	kv, err := e.js.KeyValue(e.ctx, sandbox.BucketDiscordChannels)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{c1, thread, newCh, newTh, synced} {
		eventually(t, "channel "+ch+" stored", func() bool {
			v, err := kv.Get(e.ctx, sandbox.DiscordChannelKey(ch))
			return err == nil && string(v.Value()) == g1
		})
		if r := e.do("GET", "/api/v10/channels/"+ch+"/messages", e.token(alphaID), ""); r.Status != 200 {
			t.Fatalf("channel %s: %d %s", ch, r.Status, r.Body)
		}
	}
	if _, err := kv.Get(e.ctx, sandbox.DiscordChannelKey(c2)); err == nil {
		t.Fatal("a channel of an unrouted guild was stored")
	}
	if r := e.do("GET", "/api/v10/channels/"+c2+"/messages", e.token(alphaID), ""); r.Status != http.StatusForbidden {
		t.Fatalf("production's channel: %d", r.Status)
	}
	for _, ch := range []string{c1, thread, newCh, newTh, synced, c2} {
		if n := e.fake.countPath("GET", "/v10/channels/"+ch); n != 0 {
			t.Fatalf("channel %s, learned from events, was looked up %d times", ch, n)
		}
	}
	// Another instance reads the shared bucket instead of asking Discord.
	other, _ := e.start(e.ctx)
	otherURL := newServer(t, other)
	if r := e.doURL(otherURL, "GET", "/api/v10/channels/"+newCh+"/messages", e.token(alphaID), ""); r.Status != 200 {
		t.Fatalf("second instance: %d %s", r.Status, r.Body)
	}
	if n := e.fake.countPath("GET", "/v10/channels/"+newCh); n != 0 {
		t.Fatalf("second instance asked Discord %d times", n)
	}
	// A deleted channel leaves the bucket; events of other types change nothing.
	e.proxy.Observe("gateway.events.channel.delete", []byte(`{"op":0,"t":"CHANNEL_DELETE","d":{"id":"`+newCh+`","guild_id":"`+g1+`"}}`))
	eventually(t, "deleted channel removed", func() bool {
		_, err := kv.Get(e.ctx, sandbox.DiscordChannelKey(newCh))
		return err != nil
	})
	e.proxy.Observe("gateway.events.message.create", []byte(`{"op":0,"t":"MESSAGE_CREATE","d":{"id":"811111111111111111","channel_id":"811111111111111111","guild_id":"`+g1+`","content":"\"t\":\"CHANNEL_CREATE\""}}`))
	if _, err := kv.Get(e.ctx, sandbox.DiscordChannelKey("811111111111111111")); err == nil {
		t.Fatal("a MESSAGE_CREATE created a channel")
	}
}

func TestUnknownChannelsAreLookedUpOnceAndCached(t *testing.T) {
	e := newEnv(t, generous)
	const (
		mine    = "911111111111111111"
		foreign = "922222222222222222"
		missing = "933333333333333333"
	)
	e.fake.setChannel(mine, g1)
	e.fake.setChannel(foreign, g2)
	tok := e.token(alphaID)
	for range 3 {
		if r := e.do("POST", "/api/v10/channels/"+mine+"/messages", tok, `{"content":"x"}`); r.Status != 200 {
			t.Fatalf("own channel: %d %s", r.Status, r.Body)
		}
		if r := e.do("POST", "/api/v10/channels/"+foreign+"/messages", tok, `{"content":"x"}`); r.Status != http.StatusForbidden {
			t.Fatalf("foreign channel: %d %s", r.Status, r.Body)
		}
		if r := e.do("POST", "/api/v10/channels/"+missing+"/messages", tok, `{"content":"x"}`); r.Status != http.StatusForbidden {
			t.Fatalf("missing channel: %d %s", r.Status, r.Body)
		}
	}
	for _, ch := range []string{mine, foreign, missing} {
		if n := e.fake.countPath("GET", "/v10/channels/"+ch); n != 1 {
			t.Fatalf("channel %s looked up %d times", ch, n)
		}
	}
	if n := e.fake.countPath("POST", "/v10/channels/"+foreign+"/messages") + e.fake.countPath("POST", "/v10/channels/"+missing+"/messages"); n != 0 {
		t.Fatalf("refused messages reached Discord: %d", n)
	}
	// The lookup went out with the bot token; negative answers expire.
	for _, s := range e.fake.requests() {
		if s.Method == "GET" && s.Auth != "Bot "+realToken {
			t.Fatalf("lookup without the bot token: %+v", s)
		}
	}
	e.clock.Advance(2 * time.Minute)
	e.do("GET", "/api/v10/channels/"+missing, tok, "")
	if n := e.fake.countPath("GET", "/v10/channels/"+missing); n != 2 {
		t.Fatalf("expired negative answer: looked up %d times in all", n)
	}
	kv, _ := e.js.KeyValue(e.ctx, sandbox.BucketDiscordChannels)
	eventually(t, "the fetched channel stored", func() bool {
		v, err := kv.Get(e.ctx, sandbox.DiscordChannelKey(mine))
		return err == nil && string(v.Value()) == g1
	})
}
