package keyspace

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/sandbox"
)

// BenchmarkWatchdogPass measures one watchdog pass (CLIENT LIST, ACL USERS, one bounded
// memory step, ACL DRYRUN of every sandbox, INFO, the usage record) over 50 sandboxes
// with 5 connections each, against a PING on the same connection as the baseline.
func BenchmarkWatchdogPass(b *testing.B) {
	for _, keys := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("sandboxes=50/keys=%d", keys), func(b *testing.B) { benchPass(b, 50, keys) })
	}
}

func benchPass(b *testing.B, sandboxes, keys int) {
	ctx := context.Background()
	url := embeddedtest.NewRedis(b).URL()
	r, err := Open(ctx, url, sandbox.NewSecret(), false, WithWatchdog(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	w := r.dog
	for i := range sandboxes {
		rec := sandbox.Record{ID: sandbox.NewID()}
		if err := r.Provision(ctx, rec); err != nil {
			b.Fatal(err)
		}
		opt, _ := redis.ParseURL(r.URL(rec))
		opt.PoolSize = 5
		c := redis.NewClient(opt)
		defer c.Close()
		for range 5 {
			go c.Ping(ctx)
		}
		prefix := sandbox.ResourcesFor(rec.ID).RedisPrefix
		per := keys / sandboxes
		if i < keys%sandboxes {
			per++
		}
		_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for k := range per {
				p.Set(ctx, fmt.Sprintf("%sk%d", prefix, k), "a value of about a hundred bytes, like a bot's cached guild setting or a counter", 0)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("baseline=ping", func(b *testing.B) {
		for b.Loop() {
			if err := w.c.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pass", func(b *testing.B) {
		for b.Loop() {
			if err := w.pass(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
