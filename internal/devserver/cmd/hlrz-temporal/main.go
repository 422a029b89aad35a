// Command hlrz-temporal runs the embedded Temporal dev server (internal/devserver) on a data
// directory and port, with the product's search attributes registered: a Temporal of its
// own process, which the fault suite SIGKILLs and starts again on the same data.
//
//	go run ./internal/devserver/cmd/hlrz-temporal --data-dir /tmp/temporal --port 7233
//
// Once the frontend answers it prints "TEMPORAL_ADDRESS=127.0.0.1:<port>", then serves until
// SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hlrz/hlrz/internal/devserver"
	"github.com/hlrz/hlrz/internal/domain"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hlrz-temporal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "directory holding temporal.db (required; created if missing)")
	port := fs.Int("port", 7233, "frontend gRPC port")
	uiPort := fs.Int("ui-port", -1, "Web UI port; -1 disables the UI")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dataDir == "" {
		fmt.Fprintln(stderr, "hlrz-temporal: --data-dir is required")
		return 2
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	srv, err := devserver.Start(startCtx, devserver.Config{DataDir: *dataDir, Port: *port, UIPort: *uiPort, SearchAttributes: domain.SearchAttributes()})
	cancel()
	if err != nil {
		fmt.Fprintln(stderr, "hlrz-temporal:", err)
		return 1
	}
	fmt.Fprintf(stdout, "TEMPORAL_ADDRESS=%s\n", srv.FrontendAddress())
	fmt.Fprintf(stdout, "TEMPORAL_NAMESPACE=%s\n", srv.Namespace())
	<-ctx.Done()
	srv.Stop()
	return 0
}
