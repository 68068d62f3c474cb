package router_test

import (
	"strings"
	"testing"

	"github.com/arrakis/gaib/router"
)

func BenchmarkGuildID(b *testing.B) {
	payload := []byte(`{"event_id":"3f1c","event_type":"member.join","shard_id":0,"timestamp":1700000000000,"guild_id":"123456789012345678","channel_id":null,"user_id":"42","data":{"pad":"` + strings.Repeat("x", 850) + `","nested":{"a":[1,2,3]}}}`)
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if g, _ := router.GuildID(payload); g == "" {
			b.Fatal("no guild")
		}
	}
}
