// Package app assembles the product: store, Temporal client and worker, webhook bridge and
// relay, codec endpoint and metrics, and with --dev the embedded Temporal server, its Web UI
// and both simulators. The worker binary and the end-to-end tests both start it from here,
// so the tests exercise what ships.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/bridge"
	"github.com/hlrz/hlrz/internal/codec"
	"github.com/hlrz/hlrz/internal/config"
	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/devserver"
	"github.com/hlrz/hlrz/internal/dispatch"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/heartbeat"
	"github.com/hlrz/hlrz/internal/metrics"
	"github.com/hlrz/hlrz/internal/schedules"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/postgres"
	"github.com/hlrz/hlrz/internal/store/sqlite"
	"github.com/hlrz/hlrz/workflows"
)

// Options starts an App. Tests inject a Temporal client and a store; the binary does not.
type Options struct {
	Config *config.Worker
	// Temporal, when set, is used instead of dialling (tests pass temporaltest's client, which
	// must have been created with codec.DataConverter for payloads to be encrypted).
	Temporal client.Client
	// Namespace of an injected Temporal client; default TEMPORAL_NAMESPACE or "default".
	Namespace string
	// Store, when set, is used instead of opening one from the config; the App does not close it.
	Store store.Store
	// WebhookKeys are trusted besides the configured ones (tests pass the simulator's keys).
	WebhookKeys ghl.WebhookKeys
	Logger      *slog.Logger
	// Out receives the human-readable startup lines; nil discards them.
	Out io.Writer
	// WorkerOptions overrides the Temporal worker options when non-nil.
	WorkerOptions *worker.Options
}

// App is the running product.
type App struct {
	Config   *config.Worker
	Store    store.Store
	Temporal client.Client
	Metrics  *metrics.Metrics
	Conns    *connector.Registry
	Dispatch *dispatch.Dispatcher
	Bridge   *bridge.Bridge
	Dev      *DevStack // nil without --dev
	// HTTPAddr is the public listener: /webhooks/ghl, /oauth/*, /healthz.
	HTTPAddr string
	// InternalAddr is the internal listener: /codec, /metrics, /status/*, /readyz, /healthz.
	InternalAddr string
	// CodecToken is the codec token --dev generated when none was configured.
	CodecToken string

	log        *slog.Logger
	ownStore   bool
	ownClient  bool
	dev        *devserver.Server
	worker     worker.Worker
	http       *http.Server // public
	internal   *http.Server
	closers    []func()
	sdkMetrics io.Closer
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	stopOnce   sync.Once
}

// Start brings everything up; on error whatever started is stopped again.
func Start(ctx context.Context, opts Options) (_ *App, err error) {
	cfg := opts.Config
	a := &App{Config: cfg, log: opts.Logger, Metrics: metrics.New()}
	if a.log == nil {
		a.log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: parseLevel(cfg.LogLevel)}))
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	defer func() {
		if err != nil {
			a.Stop()
		}
	}()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel

	// The HTTP listeners come first: a busy port is the commonest misconfiguration and must
	// fail before anything slow starts.
	if err := a.listen(); err != nil {
		return nil, err
	}
	if err := a.openStore(ctx, opts); err != nil {
		return nil, err
	}
	if err := a.connectTemporal(ctx, opts); err != nil {
		return nil, err
	}

	if cfg.Dev {
		dev, err := startDevStack(ctx, a, out)
		if err != nil {
			return nil, err
		}
		a.Dev = dev
	}

	oauth := a.oauthApp()
	a.Conns = connector.New(connector.Options{Store: a.Store, GHLBaseURL: cfg.GHLBaseURL, RZBaseURL: cfg.RZBaseURL, OAuth: oauth,
		Budgets: ghl.NewBudgets(ghl.BudgetConfig{Shared: sharedLimiter(a.Store)})})
	a.watchBudgets()
	a.Dispatch = &dispatch.Dispatcher{Client: a.Temporal, TaskQueue: cfg.TaskQueue, Debounce: a.debounceFor, QuietAfter: cfg.ContactQuietAfter}

	if err := a.mountHandlers(runCtx, opts, oauth, out); err != nil {
		return nil, err
	}

	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.runRetention(runCtx)
	}()

	if cfg.Mode != config.ModeBridge {
		if err := a.startWorker(opts); err != nil {
			return nil, err
		}
	}

	if a.Dev != nil {
		if err := a.Dev.afterStart(ctx, a, out); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(out, "hlrz: %s mode, task queue %s, webhooks/OAuth on http://%s, codec/metrics/status on http://%s\n", cfg.Mode, cfg.TaskQueue, a.HTTPAddr, a.InternalAddr)
	return a, nil
}

// listen binds the public and internal listeners and serves a placeholder handler on each
// until mountHandlers installs the real ones.
func (a *App) listen() error {
	cfg := a.Config
	internalAddr := cfg.InternalListen
	if internalAddr == "" {
		internalAddr = "127.0.0.1:0"
	}
	for _, l := range []struct {
		env, addr string
		srv       **http.Server
		bound     *string
	}{{config.EnvListen, cfg.Listen, &a.http, &a.HTTPAddr}, {config.EnvInternal, internalAddr, &a.internal, &a.InternalAddr}} {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return fmt.Errorf("%s: cannot listen on %s: %w", l.env, l.addr, errors.Unwrap(err))
		}
		*l.bound = ln.Addr().String()
		srv := NewHTTPServer(cfg.HTTP, http.NotFoundHandler(), a.log)
		*l.srv = srv
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("http server stopped", "listener", l.env, "error", err)
			}
		}()
	}
	return nil
}

// oauthApp returns the HighLevel OAuth app, or nil when no client is configured. In --dev
// without credentials it fills in the simulator's client (and a.Config with it).
func (a *App) oauthApp() *ghl.OAuthApp {
	cfg := a.Config
	if cfg.Dev && a.Dev != nil && cfg.GHLClientID == "" && cfg.GHLSecret == "" {
		// --dev installs the app from the HighLevel simulator (/oauth/start), with its
		// client credentials; the bridge is the redirect target.
		cfg.GHLClientID, cfg.GHLSecret = ghlsim.DefaultClientID, ghlsim.DefaultClientSecret
		if cfg.PublicURL == "" {
			cfg.PublicURL = "http://" + a.HTTPAddr
		}
	}
	if cfg.GHLClientID == "" {
		return nil
	}
	oauth := &ghl.OAuthApp{ClientID: cfg.GHLClientID, ClientSecret: cfg.GHLSecret, RedirectURL: strings.TrimRight(cfg.PublicURL, "/") + "/oauth/callback"}
	if cfg.Dev && a.Dev != nil {
		oauth.TokenURL = cfg.GHLBaseURL + "/oauth/token"
		oauth.AuthURL = cfg.GHLBaseURL + "/oauth/chooselocation"
	}
	return oauth
}

// sharedLimiter is the store's cross-process HighLevel rate limiter: on PostgreSQL every
// worker process of a deployment spends one budget per location. SQLite serves --dev, a
// single process, whose in-process budget is already the whole story.
func sharedLimiter(st store.Store) ghl.SharedLimiter {
	if pg, ok := st.(*postgres.Store); ok {
		return pg.RateLimiter()
	}
	return nil
}

// watchBudgets exposes the connector's per-location API budgets as metrics.
func (a *App) watchBudgets() {
	a.Metrics.WatchBudgets(func() map[string]metrics.BudgetStats {
		out := map[string]metrics.BudgetStats{}
		for loc, s := range a.Conns.Budgets().Stats() {
			out[loc] = metrics.BudgetStats{Requests: s.Requests, Waits: s.Waits, RateLimited: s.RateLimited, WaitSeconds: s.WaitTime.Seconds(), DailyUsed: int64(s.DailyUsed)}
		}
		return out
	})
}

// mountHandlers installs the real handlers on both listeners. Public: only what HighLevel
// and browsers need. Internal: everything an operator and the Temporal UI use; never
// exposed to the internet.
func (a *App) mountHandlers(runCtx context.Context, opts Options, oauth *ghl.OAuthApp, out io.Writer) error {
	cfg := a.Config
	public, internal := http.NewServeMux(), http.NewServeMux()
	internal.Handle("GET /metrics", a.Metrics.Handler())
	internal.HandleFunc("GET /status/budgets", a.serveBudgets)
	internal.Handle("/codec/", http.StripPrefix("/codec", codec.Handler(cfg.Keys, a.codecAuth(out))))
	if cfg.Mode != config.ModeWorker {
		if err := a.startBridge(runCtx, opts, oauth, out, public, internal); err != nil {
			return err
		}
	} else {
		public.HandleFunc("GET /healthz", bridge.ServeHealthz)
		internal.HandleFunc("GET /healthz", bridge.ServeHealthz)
	}
	a.http.Handler, a.internal.Handler = public, internal
	return nil
}

// startBridge builds the webhook bridge, mounts it on both muxes and runs its relay.
func (a *App) startBridge(runCtx context.Context, opts Options, oauth *ghl.OAuthApp, out io.Writer, public, internal *http.ServeMux) error {
	cfg := a.Config
	keys, notes, err := webhookKeys(cfg, opts.WebhookKeys, a.Dev)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintf(out, "hlrz: webhook key: %s\n", n)
		a.log.Info("webhook key trusted", "key", n)
	}
	hooks := activities.BridgeHooks{Store: a.Store, Conns: a.Conns}
	a.Bridge, err = bridge.New(bridge.Config{
		Store: a.Store, Signaler: a.Dispatch, Health: a.Temporal, Keys: keys, MaxAge: cfg.WebhookMaxAge, MaxSkew: cfg.WebhookMaxSkew,
		MaxConcurrent: cfg.WebhookMaxConcurrent,
		Metrics:       a.Metrics, Logger: a.log, OAuth: oauth, Echo: hooks, Observe: hooks, Tasks: hooks, Schedules: &schedules.Manager{Client: a.Temporal, TaskQueue: cfg.TaskQueue},
	})
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	public.Handle("/", a.Bridge.Handler())
	if err := a.mountSetupPage(public); err != nil {
		return err
	}
	internal.Handle("/", a.Bridge.InternalHandler())
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.Bridge.RunRelay(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("relay stopped", "error", err)
		}
	}()
	return nil
}

// startWorker registers the workflows and activities and starts polling the task queue.
func (a *App) startWorker(opts Options) error {
	// Two pollers (the SDK default) leave the worker idle while tasks queue up: one entity
	// workflow per person means many small tasks, so poll with more.
	wopts := worker.Options{MaxConcurrentWorkflowTaskPollers: 8, MaxConcurrentActivityTaskPollers: 8}
	if opts.WorkerOptions != nil {
		wopts = *opts.WorkerOptions
	}
	// Heartbeats while every activity runs: a killed worker's activities are retried
	// after workflows.HeartbeatTimeout, not after their StartToCloseTimeout.
	wopts.Interceptors = append(slices.Clone(wopts.Interceptors), heartbeat.New())
	a.worker = worker.New(a.Temporal, a.Config.TaskQueue, wopts)
	workflows.Register(a.worker)
	a.registerActivities()
	if err := a.worker.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", a.Config.TaskQueue, err)
	}
	return nil
}

// registerActivities constructs the activities with their dependencies.
func (a *App) registerActivities() {
	activities.Register(a.worker, activities.Core{Store: a.Store, Conns: a.Conns, Metrics: a.Metrics, Log: a.log}, a.Dispatch)
}

// Stop shuts down in reverse order: stop taking work, let in-flight work finish, close.
func (a *App) Stop() {
	a.stopOnce.Do(func() {
		if a.worker != nil {
			a.worker.Stop()
		}
		if a.cancel != nil {
			a.cancel()
		}
		for _, srv := range []*http.Server{a.http, a.internal} {
			if srv != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = srv.Shutdown(ctx)
				cancel()
			}
		}
		for _, c := range a.closers {
			c()
		}
		a.wg.Wait()
		if a.Dev != nil {
			a.Dev.stop()
		}
		if a.ownClient && a.Temporal != nil {
			a.Temporal.Close()
		}
		if a.sdkMetrics != nil {
			_ = a.sdkMetrics.Close()
		}
		if a.dev != nil {
			a.dev.Stop()
		}
		if a.ownStore && a.Store != nil {
			a.Store.Close()
		}
	})
}

func (a *App) openStore(ctx context.Context, opts Options) error {
	if opts.Store != nil {
		a.Store = opts.Store
		return nil
	}
	cfg := opts.Config
	var err error
	if cfg.DatabaseURL != "" {
		a.Store, err = postgres.Open(ctx, cfg.DatabaseURL, cfg.Keys)
		if err != nil {
			return fmt.Errorf("%s: %w", config.EnvDatabaseURL, err)
		}
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
		a.Store, err = sqlite.Open(ctx, filepath.Join(cfg.DataDir, "hlrz.db"), cfg.Keys)
		if err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
	}
	a.ownStore = true
	return nil
}

func (a *App) connectTemporal(ctx context.Context, opts Options) error {
	if opts.Temporal != nil {
		a.Temporal = opts.Temporal
		ns := opts.Namespace
		if ns == "" {
			ns = a.namespace()
		}
		return EnsureSearchAttributes(ctx, a.Temporal, ns)
	}
	cfg := opts.Config
	handler, closer := a.Metrics.SDKHandler()
	a.sdkMetrics = closer
	copts := client.Options{}
	if cfg.Dev {
		dev, err := devserver.Start(ctx, devserver.Config{
			DataDir: filepath.Join(cfg.DataDir, "temporal"), Port: cfg.TemporalPort, UIPort: cfg.UIPort,
			SearchAttributes: domain.SearchAttributes(),
			CodecEndpoint:    "http://" + a.InternalAddr + "/codec",
		})
		if err != nil {
			return fmt.Errorf("dev server: %w", err)
		}
		a.dev = dev
		copts.HostPort, copts.Namespace = dev.FrontendAddress(), dev.Namespace()
	} else {
		var err error
		copts, err = envconfig.LoadDefaultClientOptions()
		if err != nil {
			return fmt.Errorf("TEMPORAL_* configuration: %w", err)
		}
	}
	copts.DataConverter = codec.DataConverter(cfg.Keys)
	copts.MetricsHandler = handler
	copts.Logger = sdklog.NewStructuredLogger(a.log)
	c, err := client.DialContext(ctx, copts)
	if err != nil {
		return fmt.Errorf("%s: cannot reach Temporal at %s: %w", config.EnvTemporalAddr, orDefault(copts.HostPort, client.DefaultHostPort), err)
	}
	a.Temporal, a.ownClient = c, true
	return EnsureSearchAttributes(ctx, c, orDefault(copts.Namespace, client.DefaultNamespace))
}

func (a *App) namespace() string {
	if v := os.Getenv(config.EnvTemporalNS); v != "" {
		return v
	}
	return client.DefaultNamespace
}

// codecAuth is who may use the codec: the configured shared tokens and identity provider,
// with CORS for the UI origin. --dev without a token makes one and prints the link that
// gives the browser its cookie, so the Web UI (which includes credentials) can decode.
func (a *App) codecAuth(out io.Writer) codec.Auth {
	cfg := a.Config
	auth := codec.Auth{Tokens: cfg.CodecTokens, Namespace: a.namespace()}
	if cfg.UIOrigin != "" {
		auth.UIOrigins = []string{cfg.UIOrigin}
	}
	if cfg.CodecJWKSURL != "" {
		v := codec.NewJWTVerifier(cfg.CodecJWKSURL, cfg.CodecAudience)
		a.closers = append(a.closers, v.Close)
		auth.Verifier = v
	}
	if cfg.Dev {
		auth.UIOrigins = append(auth.UIOrigins, fmt.Sprintf("http://127.0.0.1:%d", cfg.UIPort), fmt.Sprintf("http://localhost:%d", cfg.UIPort))
		if len(auth.Tokens) == 0 {
			var b [24]byte
			_, _ = rand.Read(b[:])
			a.CodecToken = hex.EncodeToString(b[:])
			auth.Tokens = []string{a.CodecToken}
			fmt.Fprintf(out, "hlrz: to let the Temporal UI decode payloads, open http://%s/codec/login?token=%s once in the browser\n", a.InternalAddr, a.CodecToken)
		}
	} else if len(auth.Tokens) == 0 && auth.Verifier == nil {
		a.log.Warn("codec: neither " + config.EnvCodecToken + " nor " + config.EnvCodecJWKS + " is set; the codec endpoint refuses every request")
	}
	return auth
}

// NewHTTPServer is how every HTTP server of the product is made: with read, write and idle
// timeouts and a header size limit, so slow or oversized clients cannot hold connections or
// memory. Zero fields of l take config.DefaultHTTPLimits.
func NewHTTPServer(l config.HTTPLimits, h http.Handler, log *slog.Logger) *http.Server {
	d := config.DefaultHTTPLimits
	pick := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: pick(l.ReadHeaderTimeout, d.ReadHeaderTimeout),
		ReadTimeout:       pick(l.ReadTimeout, d.ReadTimeout),
		WriteTimeout:      pick(l.WriteTimeout, d.WriteTimeout),
		IdleTimeout:       pick(l.IdleTimeout, d.IdleTimeout),
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
	if srv.MaxHeaderBytes <= 0 {
		srv.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if log != nil {
		srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	return srv
}

// retentionEvery is how often personal data past its retention is forgotten.
const retentionEvery = time.Hour

// runRetention forgets, at start and then hourly, what the retention settings say:
// finished inbox bodies, then their rows (webhookIds), and expired observations. Several
// processes may do it at once; the statements are idempotent.
func (a *App) runRetention(ctx context.Context) {
	cfg := a.Config
	bodies, keys, obs := orDur(cfg.InboxRetention, 7*24*time.Hour), orDur(cfg.InboxKeyRetention, 30*24*time.Hour), orDur(cfg.ObservationRetention, 24*time.Hour)
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		now := time.Now()
		b, r, err := a.Store.PruneInbox(ctx, now.Add(-bodies), now.Add(-keys))
		if err != nil && ctx.Err() == nil {
			a.log.Warn("retention: prune inbox", "error", err)
		}
		o, err := a.Store.PruneObservations(ctx, now.Add(-obs))
		if err != nil && ctx.Err() == nil {
			a.log.Warn("retention: prune observations", "error", err)
		}
		if b+r+o > 0 {
			a.log.Info("retention: forgotten", "inboxBodies", b, "inboxRows", r, "observations", o)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func orDur(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// debounceFor reads a connection's debounce setting (cached by the connector).
func (a *App) debounceFor(connectionID string) int {
	c, err := a.Conns.Get(context.Background(), connectionID)
	if err != nil {
		return 0
	}
	return c.Settings.DebounceMillis
}

// EnsureSearchAttributes registers the product's search attributes on a namespace, leaving
// those already there alone.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of namespace %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range domain.SearchAttributes() {
		if _, ok := have.CustomAttributes[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register search attributes on namespace %s: %w", namespace, err)
	}
	return nil
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
