package integration

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// streamMsg is one message read back from a stream.
type streamMsg struct {
	Subject string
	Data    []byte
	Header  nats.Header
	Seq     uint64
}

// streamCount returns the number of messages in a stream.
func streamCount(t testing.TB, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// waitCounts waits until the streams hold exactly want messages each (polling the
// downstream state, never asserting on time).
func waitCounts(t testing.TB, js jetstream.JetStream, want map[string]uint64) {
	t.Helper()
	eventually(t, "stream counts", func() bool {
		for name, n := range want {
			if streamCount(t, js, name) < n {
				return false
			}
		}
		return true
	})
	for name, n := range want {
		if got := streamCount(t, js, name); got != n {
			t.Fatalf("stream %s holds %d messages, want %d", name, got, n)
		}
	}
}

// readStream reads every message of a stream in order.
func readStream(t testing.TB, js jetstream.JetStream, name string) []streamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := streamCount(t, js, name)
	if n == 0 {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []streamMsg
	for uint64(len(out)) < n {
		batch, err := cons.Fetch(int(min(n-uint64(len(out)), 5000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			meta, _ := m.Metadata()
			out = append(out, streamMsg{Subject: m.Subject(), Data: m.Data(), Header: m.Headers(), Seq: meta.Sequence.Stream})
		}
		if batch.Error() != nil {
			t.Fatal(batch.Error())
		}
	}
	return out
}

// publishGateway stores one gateway message and fails the test if it is not stored.
func publishGateway(t testing.TB, js jetstream.JetStream, subject string, data []byte, hdr nats.Header) {
	t.Helper()
	if _, err := js.PublishMsg(context.Background(), &nats.Msg{Subject: subject, Data: data, Header: hdr}); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}
