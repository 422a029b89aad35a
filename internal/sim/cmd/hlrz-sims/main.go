// Command hlrz-sims runs the HighLevel and Referrizer simulators as one process, so the
// worker can be pointed at them exactly as at the real APIs: a rehearsal of a production
// deployment (worker, PostgreSQL, Temporal) without touching real accounts. The fault
// suite starts it as its own process, too.
//
//	go run ./internal/sim/cmd/hlrz-sims --webhook-url http://127.0.0.1:8080/webhooks/ghl \
//	    --webhook-key-out /tmp/ghlsim-webhook.pem
//
// It prints the worker's environment for the two APIs (HLRZ_GHL_BASE_URL=…,
// HLRZ_RZ_BASE_URL=…, HLRZ_WEBHOOK_PUBLIC_KEYS=… when --webhook-key-out is set), one per
// line, then serves until SIGINT or SIGTERM. Both simulators keep their admin APIs under
// /admin/ (contacts, faults, stats, snapshot, webhooks); see ghlsim and rzsim.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hlrz-sims", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ghlAddr := fs.String("ghl-addr", envOr(getenv, "HLRZ_SIM_GHL_ADDR", "127.0.0.1:8091"), "HighLevel simulator address (env HLRZ_SIM_GHL_ADDR; port 0 picks a free one)")
	rzAddr := fs.String("rz-addr", envOr(getenv, "HLRZ_SIM_RZ_ADDR", "127.0.0.1:8092"), "Referrizer simulator address (env HLRZ_SIM_RZ_ADDR)")
	location := fs.String("ghl-location", envOr(getenv, "HLRZ_SIM_GHL_LOCATION", "sim-location"), "HighLevel location the private integration token opens")
	ghlToken := fs.String("ghl-token", envOr(getenv, "HLRZ_SIM_GHL_TOKEN", "sim-ghl-token"), "HighLevel private integration token")
	rzToken := fs.String("rz-token", envOr(getenv, "HLRZ_SIM_RZ_TOKEN", "sim-rz-token"), "Referrizer API token (an account is created for it)")
	hookURL := fs.String("webhook-url", envOr(getenv, "HLRZ_SIM_WEBHOOK_URL", ""), "where HighLevel webhooks go, e.g. http://127.0.0.1:8080/webhooks/ghl (settable later: POST /admin/webhooks)")
	keyOut := fs.String("webhook-key-out", envOr(getenv, "HLRZ_SIM_WEBHOOK_KEY_OUT", ""), "write the webhook signing public key (PEM) to this file, for HLRZ_WEBHOOK_PUBLIC_KEYS")
	rateMax := fs.Int("rate-max", 100, "HighLevel requests per --rate-interval per location (HighLevel: 100 per 10 s)")
	rateInterval := fs.Duration("rate-interval", 10*time.Second, "HighLevel rate-limit window")
	retryInterval := fs.Duration("webhook-retry-interval", 10*time.Minute, "wait before HighLevel retries a webhook answered 429 (HighLevel: 10 min)")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "seed of ids and fault draws")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *rateMax <= 0 || *rateInterval <= 0 || *retryInterval <= 0 {
		fmt.Fprintln(stderr, "hlrz-sims: --rate-max, --rate-interval and --webhook-retry-interval must be positive")
		return 2
	}

	key, err := ghlsim.GenerateKey()
	if err != nil {
		fmt.Fprintln(stderr, "hlrz-sims:", err)
		return 1
	}
	g := ghlsim.New(ghlsim.Options{
		Seed: *seed, PrivateTokens: map[string]string{*ghlToken: *location}, DefaultLocationID: *location,
		RateMax: *rateMax, RateInterval: *rateInterval,
		Webhooks: ghlsim.WebhookOptions{URL: *hookURL, Key: key, RetryInterval: *retryInterval},
	})
	defer g.Close()
	rz := rzsim.New(rzsim.Options{Seed: *seed ^ 0x5eed, Tokens: []string{*rzToken}})

	var servers []*http.Server
	urls := map[string]string{}
	for _, s := range []struct {
		name, addr string
		h          http.Handler
	}{{"HLRZ_GHL_BASE_URL", *ghlAddr, g.Handler()}, {"HLRZ_RZ_BASE_URL", *rzAddr, rz.Handler()}} {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			fmt.Fprintf(stderr, "hlrz-sims: cannot listen on %s: %v\n", s.addr, errors.Unwrap(err))
			return 1
		}
		srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go func() { _ = srv.Serve(ln) }()
		port := ln.Addr().(*net.TCPAddr).Port
		urls[s.name] = "http://127.0.0.1:" + strconv.Itoa(port)
	}
	if *keyOut != "" {
		pemText, err := g.WebhookPublicKeyPEM()
		if err == nil {
			err = os.WriteFile(*keyOut, pemText, 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "hlrz-sims: --webhook-key-out:", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "HLRZ_GHL_BASE_URL=%s\n", urls["HLRZ_GHL_BASE_URL"])
	fmt.Fprintf(stdout, "HLRZ_RZ_BASE_URL=%s\n", urls["HLRZ_RZ_BASE_URL"])
	if *keyOut != "" {
		fmt.Fprintf(stdout, "HLRZ_WEBHOOK_PUBLIC_KEYS=%s\n", *keyOut)
	}
	fmt.Fprintf(stdout, "hlrz-sims: HighLevel location %s (private integration token %q), Referrizer token %q; admin APIs under /admin/; Ctrl-C stops\n", *location, *ghlToken, *rzToken)

	<-ctx.Done()
	for _, srv := range servers {
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	return 0
}
