package node

import "testing"

func TestConnectNeverHandsOutTheMeshCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"nats://admin:s3cret@nats-1:4222,nats://admin:s3cret@nats-2:4222": "nats://nats-1:4222,nats://nats-2:4222",
		"nats://127.0.0.1:4222": "nats://127.0.0.1:4222",
		"tls://token@h:4222":    "tls://h:4222",
	} {
		if got := WithoutUserinfo(in); got != want {
			t.Errorf("WithoutUserinfo(%q) = %q, want %q", in, got, want)
		}
	}
}
