// Command worker runs the sync: the Temporal worker, the HighLevel webhook bridge and its
// relay, the codec endpoint and /metrics. With --dev it also runs everything else in this
// one process: a Temporal server with its Web UI, SQLite, both simulators and demo data.
//
//	go run ./worker --dev
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs until ctx is done. Exit codes: 0 clean shutdown, 1 failure at start or during
// shutdown, 2 bad configuration; every error is one line naming its cause.
func run(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	cfg, err := config.ParseWorker(args, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "worker: "+oneLine(err))
		return 2
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	a, err := app.Start(startCtx, app.Options{Config: cfg, Out: stdout})
	cancel()
	if err != nil {
		fmt.Fprintln(stderr, "worker: "+oneLine(err))
		return 1
	}
	if cfg.Dev {
		fmt.Fprintf(stdout, "hlrz: Temporal UI http://127.0.0.1:%d · Temporal gRPC 127.0.0.1:%d · Ctrl-C stops\n", cfg.UIPort, cfg.TemporalPort)
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "hlrz: shutting down")
	done := make(chan struct{})
	go func() { a.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(cfg.ShutdownGrace + 20*time.Second):
		fmt.Fprintln(stderr, "worker: shutdown took too long; exiting")
		return 1
	}
	return 0
}

// oneLine keeps configuration errors to the single line operators are promised.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}
