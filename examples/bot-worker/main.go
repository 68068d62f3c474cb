// Command bot-worker is a stand-in for the Arrakis bot worker, to run inside a sandbox:
//
//	gaib sandbox run demo -- bot-worker
//
// It uses nothing but what `gaib sandbox connect` exports. It reads the sandbox's
// database (DATABASE_URL) and Redis (REDIS_URL, SANDBOX_REDIS_PREFIX) once, then consumes
// the sandbox's events through the durable consumer gaib made for its worker (NATS_URL,
// NATS_CREDS, NATS_INBOX_PREFIX, SANDBOX_STREAM, SANDBOX_CONSUMER) and prints each one. It
// follows until Ctrl-C, or with -drain stops once every pending event is handled.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

func main() {
	drain := flag.Bool("drain", false, "stop once every pending event is handled (default: follow until Ctrl-C)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *drain); err != nil {
		fmt.Fprintln(os.Stderr, "bot-worker:", err)
		os.Exit(1)
	}
}

// need returns the variables named, or says how to run the worker.
func need(names ...string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		if out[i] = os.Getenv(n); out[i] == "" {
			return nil, fmt.Errorf("%s is not set: run me inside a sandbox, e.g. gaib sandbox run demo -- bot-worker", n)
		}
	}
	return out, nil
}

func run(ctx context.Context, drain bool) error {
	env, err := need("SANDBOX_NAME", "NATS_URL", "NATS_CREDS", "NATS_INBOX_PREFIX", "SANDBOX_STREAM", "SANDBOX_CONSUMER")
	if err != nil {
		return err
	}
	name, url, creds, inbox, stream, durable := env[0], env[1], env[2], env[3], env[4], env[5]
	fmt.Printf("bot-worker for sandbox %s\n", name)
	if err := touchPostgres(ctx); err != nil {
		return err
	}
	if err := touchRedis(ctx); err != nil {
		return err
	}
	nc, err := nats.Connect(url, nats.UserCredentials(creds), nats.CustomInboxPrefix(inbox), nats.Name("bot-worker "+name))
	if err != nil {
		return fmt.Errorf("nats %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cons, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", durable, stream, err)
	}
	fmt.Printf("nats: consuming %s through durable %s\n", stream, durable)
	handled := 0
	for ctx.Err() == nil {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("fetch: %w", err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			meta, _ := msg.Metadata()
			seq := uint64(0)
			if meta != nil {
				seq = meta.Sequence.Stream
			}
			fmt.Printf("event #%d %s %s\n", seq, msg.Subject(), msg.Data())
			// DoubleAck: the server has recorded the ack before we go on (or exit).
			if err := msg.DoubleAck(ctx); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
			return fmt.Errorf("fetch: %w", err)
		}
		handled += n
		if drain && n == 0 {
			info, err := cons.Info(ctx)
			if err != nil {
				return err
			}
			if info.NumPending == 0 && info.NumAckPending == 0 {
				break
			}
		}
	}
	fmt.Printf("bot-worker: handled %d events\n", handled)
	return nil
}

// touchPostgres counts the communities in the sandbox's schema (the worker's tables).
func touchPostgres(ctx context.Context) error {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		fmt.Println("postgres: no DATABASE_URL (the mesh runs without the Postgres plane)")
		return nil
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM communities").Scan(&n); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	fmt.Printf("postgres: %d communities in schema %s\n", n, os.Getenv("SANDBOX_SCHEMA"))
	return nil
}

// touchRedis reads the greeting the quick start stores under the sandbox's prefix.
func touchRedis(ctx context.Context) error {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		fmt.Println("redis: no REDIS_URL (the mesh runs without the Redis plane)")
		return nil
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	key := os.Getenv("SANDBOX_REDIS_PREFIX") + "greeting"
	v, err := rdb.Get(ctx, key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		v = "(not set)"
	case err != nil:
		return fmt.Errorf("redis: %w", err)
	}
	fmt.Printf("redis: %s = %s\n", key, v)
	return nil
}
