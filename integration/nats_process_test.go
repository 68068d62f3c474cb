package integration

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsProcessEnv, when set to a directory, makes the test binary a JetStream server
// without authentication storing there (see serveNATS): tests that measure the memory of
// gaib's own process run the server beside it, as production does.
const natsProcessEnv = "GAIB_TEST_NATS_PROCESS"

// serveNATS runs a JetStream server with the default max payload (1 MiB) on a free
// loopback port, prints its URL and serves until stdin closes.
func serveNATS(dir string) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: dir, JetStreamMaxMemory: 256 << 20, JetStreamMaxStore: 8 << 30})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		fmt.Println("error: not ready")
		os.Exit(1)
	}
	fmt.Println(srv.ClientURL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Shutdown()
	srv.WaitForShutdown()
}

// natsProcess starts a JetStream server in a child process and returns its URL; it stops
// when the test ends.
func natsProcess(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), natsProcessEnv+"="+t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if url = strings.TrimSpace(url); err != nil || !strings.HasPrefix(url, "nats://") {
		t.Fatalf("nats-server process: %q %v", url, err)
	}
	return url
}
