// Command gaib manages Discord server sandboxes for the Arrakis bot. See the README.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/arrakis/gaib/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.StdIO())
	stop()
	os.Exit(code)
}
