// Command worker runs the sync: the Temporal worker, the HighLevel webhook bridge and its
// relay, the codec endpoint and /metrics. With --dev it also runs everything else in this
// one process: a Temporal server with its Web UI, SQLite, both simulators and demo data.
//
//	go run ./worker --dev
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/config"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cfg, err := config.ParseWorker(args, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker: "+oneLine(err))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	a, err := app.Start(startCtx, app.Options{Config: cfg, Out: os.Stdout})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker: "+oneLine(err))
		return 1
	}
	if cfg.Dev {
		fmt.Fprintf(os.Stdout, "hlrz: Temporal UI http://127.0.0.1:%d · Temporal gRPC 127.0.0.1:%d · Ctrl-C stops\n", cfg.UIPort, cfg.TemporalPort)
	}
	<-ctx.Done()
	fmt.Fprintln(os.Stdout, "hlrz: shutting down")
	done := make(chan struct{})
	go func() { a.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(cfg.ShutdownGrace + 20*time.Second):
		fmt.Fprintln(os.Stderr, "worker: shutdown took too long; exiting")
		return 1
	}
	return 0
}

// oneLine keeps configuration errors to the single line operators are promised.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}
