package embeddedtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/arrakis/gaib/embedded/embeddedtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	embeddedtest.StopAll()
	os.Exit(code)
}

func TestPostgresAndRedisStart(t *testing.T) {
	ctx := context.Background()
	url := embeddedtest.Database(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "select 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("select 1: %v", err)
	}
	// Password authentication is enforced on loopback.
	bad, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	bad.Password = "wrong"
	if c, err := pgx.ConnectConfig(ctx, bad); err == nil {
		c.Close(ctx)
		t.Fatal("a wrong password was accepted")
	}

	opt, err := redis.ParseURL(embeddedtest.Redis(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	if err := rc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	opt.Password = "wrong"
	anon := redis.NewClient(opt)
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); err == nil {
		t.Fatal("redis accepted a wrong password")
	}
}
