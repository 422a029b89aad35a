// Command starter is the operator CLI of the HighLevel ⇄ Referrizer sync: connections,
// mappings, backfills, one-person syncs and dry runs, status, schedules, dead letters and the
// pre-deploy replay check. `starter --help` lists the commands; see starter/cli for the exit
// codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hlrz/hlrz/starter/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
