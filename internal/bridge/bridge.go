// Package bridge turns HighLevel's signed webhooks into ContactSync signals, durably.
//
// The HTTP side (POST /webhooks/ghl) only verifies, dedupes and stores: it answers 2xx after
// the raw event is committed to the store's inbox, so HighLevel's at-least-once delivery and
// our own crashes never lose an acknowledged event. When the event cannot be stored it
// answers 429 with Retry-After, never 5xx: HighLevel retries only a 429 (up to six times,
// about ten minutes apart, with the original timestamp) and drops the event after any other
// answer. Signatures are verified by ghl.VerifyWebhook (Ed25519 X-GHL-Signature, legacy RSA
// X-WH-Signature). The relay (RunRelay) then claims inbox
// rows, resolves each to a connection and a person link, drops our own echoes and signals the
// person's ContactSync through a Signaler, retrying with backoff while Temporal is down.
// Several bridge replicas may run against one PostgreSQL store: ClaimInbox skips rows another
// relay holds.
//
// Inbox rows end in one of these states (the note says why):
//
//	signalled  delivered to ContactSync, or an app install/uninstall that was carried out
//	echo       our own write coming back (EchoChecker); not signalled
//	ignored    unknown event type, paused connection, agency-level app event, or an event
//	           that names no person (e.g. a delete of a contact never linked)
//	orphaned   no connection for the event's location; kept for an operator
//	failed     can never be routed (e.g. a task event without contactId and no resolver)
//
// Everything else that goes wrong (store, HighLevel API, Temporal) leaves the row pending
// with a backoff, so nothing acknowledged is lost.
//
// The package also serves the OAuth install flow (GET /oauth/start, GET /oauth/callback) and
// health endpoints (GET /healthz, GET /readyz).
package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/metrics"
	"github.com/hlrz/hlrz/internal/store"
)

// Defaults for Config's zero values.
const (
	MaxBodyBytes         = 1 << 20 // HighLevel events are a few KiB; anything near this is abuse
	DefaultMaxAge        = 75 * time.Minute
	DefaultMaxSkew       = 5 * time.Minute
	DefaultStoreTimeout  = 3 * time.Second
	DefaultPollInterval  = 150 * time.Millisecond
	DefaultBatchSize     = 64
	DefaultConcurrency   = 8
	DefaultLease         = 15 * time.Second
	DefaultRetryBase     = time.Second
	DefaultRetryMax      = time.Minute
	DefaultSignalTimeout = 10 * time.Second
	DefaultGaugeEvery    = 5 * time.Second
	// DefaultMaxConcurrent bounds webhook requests in progress (reading, verifying,
	// storing); more are answered 429 so HighLevel sends them again later.
	DefaultMaxConcurrent = 64
)

// DefaultScopes are what the install asks HighLevel for: read and write contacts (which
// includes their tasks, notes and tags), read the location's custom fields for mapping, and
// search the location's tasks (to find the contact of a TaskCreate sent without one).
var DefaultScopes = []string{"contacts.readonly", "contacts.write", "locations/customFields.readonly", "locations/tasks.readonly"}

// Store is the part of store.Store the bridge uses.
type Store interface {
	store.Inbox
	store.Connections
	store.Links
	store.Tokens
	store.CompanyTokens
	Ping(ctx context.Context) error
}

// Signaler delivers an event to a person's ContactSync; *dispatch.Dispatcher implements it.
type Signaler interface {
	Signal(ctx context.Context, ref domain.Ref, ev domain.Event) error
}

// EchoChecker reports whether an inbound HighLevel event is our own write coming back: its
// mapped projection hashes equal to the ledger's last written hash for the HighLevel side.
type EchoChecker interface {
	IsEcho(ctx context.Context, conn store.Connection, link store.Link, ev ghl.Envelope) (bool, error)
}

// ContactObserver records a HighLevel contact webhook's body as HighLevel's statement of the
// contact at the webhook's timestamp, so the pass it triggers need not read the contact;
// events that carry no contact are ignored by it.
type ContactObserver interface {
	ObserveContact(ctx context.Context, conn store.Connection, env ghl.Envelope, body []byte, receivedAt time.Time) error
}

// TaskContactResolver finds the contact of a task whose event came without contactId
// (HighLevel sometimes omits it on TaskCreate). It returns an error matching ghl.ErrNotFound
// or store.ErrNotFound when the task no longer exists.
type TaskContactResolver interface {
	// title is the task's title from the event (may be empty); it narrows the search.
	ResolveTaskContact(ctx context.Context, conn store.Connection, taskID, title string) (contactID string, err error)
}

// SchedulePauser pauses a connection's Temporal Schedules (poll and reconcile) after the app
// was uninstalled; a missing schedule is not an error. If the value also implements
// ScheduleResumer, a later OAuth re-install resumes them.
type SchedulePauser interface {
	PauseSchedules(ctx context.Context, connectionID, note string) error
}

// ScheduleResumer resumes a connection's schedules; optional, see SchedulePauser.
type ScheduleResumer interface {
	ResumeSchedules(ctx context.Context, connectionID, note string) error
}

// HealthChecker reports whether Temporal answers; client.Client implements it.
type HealthChecker interface {
	CheckHealth(ctx context.Context, req *client.CheckHealthRequest) (*client.CheckHealthResponse, error)
}

// EchoCheckerFunc adapts a function to EchoChecker.
type EchoCheckerFunc func(ctx context.Context, conn store.Connection, link store.Link, ev ghl.Envelope) (bool, error)

// IsEcho calls f.
func (f EchoCheckerFunc) IsEcho(ctx context.Context, conn store.Connection, link store.Link, ev ghl.Envelope) (bool, error) {
	return f(ctx, conn, link, ev)
}

// TaskContactResolverFunc adapts a function to TaskContactResolver.
type TaskContactResolverFunc func(ctx context.Context, conn store.Connection, taskID, title string) (string, error)

// ResolveTaskContact calls f.
func (f TaskContactResolverFunc) ResolveTaskContact(ctx context.Context, conn store.Connection, taskID, title string) (string, error) {
	return f(ctx, conn, taskID, title)
}

// SchedulePauserFunc adapts a function, e.g. (*schedules.Manager).Pause, to SchedulePauser.
type SchedulePauserFunc func(ctx context.Context, connectionID, note string) error

// PauseSchedules calls f.
func (f SchedulePauserFunc) PauseSchedules(ctx context.Context, connectionID, note string) error {
	return f(ctx, connectionID, note)
}

// Config configures a Bridge. Store and Signaler are required; zero values of the rest take
// the documented defaults.
type Config struct {
	Store    Store
	Signaler Signaler
	// Health is asked by /readyz; nil skips the Temporal check.
	Health HealthChecker
	// Keys verify webhook signatures: Ed25519 keys X-GHL-Signature, RSA keys the legacy
	// X-WH-Signature (see ghl.VerifyWebhook for the order). Any key of a scheme may match, so
	// during a rotation the old and the new key are both listed. A scheme without a key uses
	// HighLevel's published key for it (ghl.WebhookKeys.WithDefaults).
	Keys ghl.WebhookKeys
	// MaxAge is how old an event's timestamp may be. HighLevel repeats the original
	// timestamp in its retries for up to about 70 minutes, so it must be at least that.
	// Default 75 min. A webhookId once stored is a duplicate for as long as its inbox row
	// exists, which is longer than any MaxAge: nothing deletes inbox rows.
	MaxAge time.Duration
	// MaxSkew is how far in the future an event's timestamp may be (clock skew). Default
	// 5 min.
	MaxSkew time.Duration
	// StoreTimeout bounds the store work of one delivery; past it the answer is 429 so
	// HighLevel retries. Keep it under HighLevel's delivery timeout. Default 3 s.
	StoreTimeout time.Duration
	// MaxConcurrent bounds webhook requests in progress; a request beyond it is answered
	// 429 with Retry-After at once, before its body is read (HighLevel retries only a 429,
	// ghl-facts.md §2). Default DefaultMaxConcurrent.
	MaxConcurrent int
	// Metrics receives the bridge's counters and gauges; nil uses a private registry.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// OAuth enables /oauth/start and /oauth/callback; nil answers them 404. Its Scopes
	// default to DefaultScopes.
	OAuth *ghl.OAuthApp
	// AppID is this HighLevel Marketplace app's id. INSTALL and UNINSTALL events carrying
	// another appId, or none, are acknowledged, stored as ignored and logged: HighLevel signs
	// every app's events with the same key, so the signature alone does not make an event
	// ours (ghl-facts.md §3). Default: OAuth's client id before the first '-', as HighLevel's
	// SDK derives it. With neither, every app event is ignored.
	AppID string
	// Echo suppresses our own writes; nil signals every event.
	Echo EchoChecker
	// Observe records contact webhook bodies before their signal; nil records none (every
	// pass then reads the contact).
	Observe ContactObserver
	// Tasks resolves task events without contactId; nil leaves such events failed.
	Tasks TaskContactResolver
	// Schedules is paused on AppUninstall; nil only records the paused status.
	Schedules SchedulePauser

	// RelayID names this relay as the owner of the rows it claims; default host-pid-random.
	RelayID string
	// PollInterval is how often an idle relay looks for work. Default 150 ms.
	PollInterval time.Duration
	// BatchSize is how many rows one claim takes. Default 64.
	BatchSize int
	// Concurrency bounds the rows of a batch processed at once. Default 8.
	Concurrency int
	// Lease is how long a claimed row stays invisible to other relays. The relay renews it
	// every third of it while the batch is worked on, so a relay killed mid-batch hands its
	// rows over within one lease. A lease that runs out under a live relay (the store
	// unreachable for that long) at worst signals a row twice, which workflows drop by
	// event id. Default 15 s.
	Lease time.Duration
	// RetryBase and RetryMax shape the exponential backoff of a row that failed (Temporal
	// unavailable, store error): RetryBase·2^(attempts-1), capped at RetryMax, ±20 % jitter.
	// Defaults 1 s and 1 min.
	RetryBase, RetryMax time.Duration
	// SignalTimeout bounds one signal. Default 10 s.
	SignalTimeout time.Duration
	// GaugeEvery is how often the relay refreshes the inbox depth and lag gauges. Default 5 s.
	GaugeEvery time.Duration
	// Now is the clock webhook timestamps are checked against; nil means time.Now. (The
	// relay schedules retries on the store's clock.)
	Now func() time.Time
}

// Bridge is the webhook receiver, its relay and the OAuth install endpoints.
type Bridge struct {
	cfg     Config
	store   Store
	sig     Signaler
	keys    ghl.WebhookKeys
	metrics *metrics.Metrics
	log     *slog.Logger
	scopes  []string
	appID   string
	// wake nudges the relay when this process stored an event, so it need not wait for the
	// next poll.
	wake chan struct{}
	// inflight holds a token per webhook request in progress (MaxConcurrent).
	inflight chan struct{}

	lastGauges atomic.Int64 // unix nanos of the last gauge refresh
}

// New validates cfg and returns a Bridge.
func New(cfg Config) (*Bridge, error) {
	if cfg.Store == nil {
		return nil, errors.New("bridge: Config.Store is required")
	}
	if cfg.Signaler == nil {
		return nil, errors.New("bridge: Config.Signaler is required")
	}
	keys, _, err := cfg.Keys.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("bridge: load HighLevel's webhook keys: %w", err)
	}
	cfg.setDefaults()
	m := cfg.Metrics
	if m == nil {
		m = metrics.New()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bridge{
		cfg: cfg, store: cfg.Store, sig: cfg.Signaler, keys: keys, metrics: m,
		log: log.With("component", "bridge"), wake: make(chan struct{}, 1),
		inflight: make(chan struct{}, cfg.MaxConcurrent),
	}
	if cfg.OAuth != nil {
		b.scopes = cfg.OAuth.Scopes
		if len(b.scopes) == 0 {
			b.scopes = DefaultScopes
		}
	}
	b.appID = strings.TrimSpace(cfg.AppID)
	if b.appID == "" && cfg.OAuth != nil {
		b.appID = cfg.OAuth.AppID()
	}
	if b.appID == "" {
		b.log.Warn("bridge: no HighLevel app id (HLRZ_GHL_CLIENT_ID unset): INSTALL and UNINSTALL events will be ignored")
	}
	return b, nil
}

// setDefaults fills in every unset (zero or negative) setting.
func (cfg *Config) setDefaults() {
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.RetryMax < cfg.RetryBase {
		cfg.RetryMax = cfg.RetryBase
	}
	if cfg.SignalTimeout <= 0 {
		cfg.SignalTimeout = DefaultSignalTimeout
	}
	if cfg.GaugeEvery <= 0 {
		cfg.GaugeEvery = DefaultGaugeEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.RelayID == "" {
		cfg.RelayID = defaultRelayID()
	}
}

func defaultRelayID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "bridge"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Handler serves the bridge's public routes, the only ones HighLevel and browsers need:
//
//	POST /webhooks/ghl   HighLevel webhooks
//	GET  /oauth/start    begin the install (redirect to HighLevel's choose-location page)
//	GET  /oauth/callback finish the install
//	GET  /healthz        the process is up
//
// Everything else (readiness details, metrics) is on InternalHandler.
func (b *Bridge) Handler() http.Handler {
	mux := http.NewServeMux()
	// No method in the pattern: the handler answers 405 itself so the rejection is counted.
	mux.HandleFunc("/webhooks/ghl", b.serveWebhook)
	mux.HandleFunc("GET /oauth/start", b.serveOAuthStart)
	mux.HandleFunc("GET /oauth/callback", b.serveOAuthCallback)
	mux.HandleFunc("GET /healthz", ServeHealthz)
	return mux
}

// InternalHandler serves the routes for operators and their tools, which must not be
// reachable from the internet:
//
//	GET  /healthz        the process is up
//	GET  /readyz         the store and Temporal answer
//	GET  /metrics        Prometheus metrics
func (b *Bridge) InternalHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", ServeHealthz)
	mux.HandleFunc("GET /readyz", b.serveReady)
	mux.Handle("GET /metrics", b.metrics.Handler())
	return mux
}

// WebhooksInFlight is the number of webhook requests in progress (at most MaxConcurrent).
func (b *Bridge) WebhooksInFlight() int { return len(b.inflight) }

// ServeHealthz answers that the process is up.
func ServeHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
}

// serveReady checks the dependencies the bridge cannot work without. The answer names what
// failed but not why: error texts may carry hosts and user names.
func (b *Bridge) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	var failed []string
	if err := b.store.Ping(ctx); err != nil {
		b.log.Warn("readiness: store unreachable", "error", err)
		failed = append(failed, "store")
	}
	if b.cfg.Health != nil {
		if _, err := b.cfg.Health.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			b.log.Warn("readiness: temporal unreachable", "error", err)
			failed = append(failed, "temporal")
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, f := range failed {
			_, _ = io.WriteString(w, f+": unavailable\n")
		}
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

func (b *Bridge) now() time.Time { return b.cfg.Now() }

// nudge wakes the relay of this process without blocking.
func (b *Bridge) nudge() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}
