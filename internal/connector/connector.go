// Package connector builds, per connection, the API clients and parsed mapping the
// activities need, from what the store holds, and caches them for a short while so a
// mapping or credential change takes effect within seconds without a restart.
package connector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// Conn is one connection ready to use.
type Conn struct {
	store.Connection
	GHL     *ghl.Client
	RZ      *referrizer.Client
	Mapping *syncmodel.Mapping
	// Token is the HighLevel token source; Refreshes() tells tests how often it refreshed.
	Token *ghl.StoredToken
}

// Options configures a Registry.
type Options struct {
	Store store.Store
	// GHLBaseURL and RZBaseURL are used when a connection's settings name none.
	GHLBaseURL, RZBaseURL string
	// OAuth refreshes HighLevel OAuth tokens; nil when only Private Integration tokens are used.
	OAuth *ghl.OAuthApp
	// Budgets shares HighLevel rate budgets per location across every client of the process.
	Budgets *ghl.Budgets
	// RZRequestsPerSecond throttles Referrizer per connection when the connection's settings
	// give no rate; 0 means the client's default.
	RZRequestsPerSecond float64
	HTTPClient          *http.Client
	// TTL is how long a built Conn is reused; default 10 s.
	TTL time.Duration
}

// Registry hands out Conns.
type Registry struct {
	opts  Options
	mu    sync.Mutex
	cache map[string]*entry
}

type entry struct {
	conn    *Conn
	builtAt time.Time
	updated time.Time
}

// ErrInactive means the connection is paused or needs reconnecting; activities must not
// call either API for it.
var ErrInactive = errors.New("connection is not active")

// ErrConfig means the connection's configuration is unusable (a mapping that does not
// parse, a missing credential): only an operator can fix it, so retrying is pointless.
var ErrConfig = errors.New("connection configuration")

// New returns a registry.
func New(opts Options) *Registry {
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Second
	}
	if opts.Budgets == nil {
		opts.Budgets = ghl.NewBudgets(ghl.BudgetConfig{})
	}
	return &Registry{opts: opts, cache: map[string]*entry{}}
}

// Budgets returns the shared HighLevel budgets, for metrics and benchmarks.
func (r *Registry) Budgets() *ghl.Budgets { return r.opts.Budgets }

// Get returns the connection's clients and mapping.
func (r *Registry) Get(ctx context.Context, connectionID string) (*Conn, error) {
	r.mu.Lock()
	e := r.cache[connectionID]
	r.mu.Unlock()
	if e != nil && time.Since(e.builtAt) < r.opts.TTL {
		return e.conn, nil
	}
	c, err := r.opts.Store.GetConnection(ctx, connectionID)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", connectionID, err)
	}
	if c.Status != store.ConnActive {
		return nil, fmt.Errorf("connection %s is %s (%s): %w", connectionID, c.Status, c.StatusReason, ErrInactive)
	}
	if e != nil && e.updated.Equal(c.UpdatedAt) {
		r.mu.Lock()
		e.builtAt = time.Now()
		r.mu.Unlock()
		return e.conn, nil
	}
	conn, err := r.build(ctx, c)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.cache[connectionID] = &entry{conn: conn, builtAt: time.Now(), updated: c.UpdatedAt}
	r.mu.Unlock()
	return conn, nil
}

// Forget drops a cached connection, e.g. after the CLI changed it.
func (r *Registry) Forget(connectionID string) {
	r.mu.Lock()
	delete(r.cache, connectionID)
	r.mu.Unlock()
}

func (r *Registry) build(ctx context.Context, c store.Connection) (*Conn, error) {
	mapping := syncmodel.DefaultMapping()
	if len(c.Mapping) > 0 {
		m, err := syncmodel.ParseMapping(c.Mapping)
		if err != nil {
			return nil, fmt.Errorf("connection %s: mapping: %w: %w", c.ID, ErrConfig, err)
		}
		mapping = m
	}
	mapping, err := mapping.WithOverrides(c.Settings.DefaultRegion, syncmodel.DeletePolicy(c.Settings.DeletePolicy))
	if err != nil {
		return nil, fmt.Errorf("connection %s: settings: %w: %w", c.ID, ErrConfig, err)
	}
	if c.GHLLocationID == "" {
		return nil, fmt.Errorf("connection %s has no HighLevel location: %w", c.ID, ErrConfig)
	}
	tok, err := ghl.NewStoredToken(ghl.StoredTokenConfig{App: r.opts.OAuth, Tokens: r.opts.Store, Connections: r.opts.Store, ConnectionID: c.ID,
		Companies: r.opts.Store, CompanyID: c.GHLCompanyID, LocationID: c.GHLLocationID})
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", c.ID, err)
	}
	ghlBase := c.Settings.GHLBaseURL
	if ghlBase == "" {
		ghlBase = r.opts.GHLBaseURL
	}
	gc, err := ghl.New(ghl.Options{BaseURL: ghlBase, LocationID: c.GHLLocationID, Auth: tok, HTTPClient: r.opts.HTTPClient, Budgets: r.opts.Budgets})
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", c.ID, err)
	}
	rzTok, err := r.opts.Store.GetToken(ctx, c.ID, store.TokenReferrizer)
	switch {
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, secrets.ErrUnreadable):
		return nil, fmt.Errorf("connection %s: Referrizer token: %w: %w", c.ID, ErrConfig, err)
	case err != nil: // the store failing (e.g. restarting) is transient: retried
		return nil, fmt.Errorf("connection %s: read Referrizer token: %w", c.ID, err)
	}
	rzBase := c.Settings.RZBaseURL
	if rzBase == "" {
		rzBase = r.opts.RZBaseURL
	}
	rzOpts := []referrizer.Option{referrizer.WithBaseURL(rzBase)}
	if r.opts.HTTPClient != nil {
		rzOpts = append(rzOpts, referrizer.WithHTTPClient(r.opts.HTTPClient))
	}
	rate := c.Settings.RZRequestsPerSec
	if rate == 0 {
		rate = r.opts.RZRequestsPerSecond
	}
	if rate > 0 {
		rzOpts = append(rzOpts, referrizer.WithRateLimit(rate, max(1, int(rate))))
	}
	rc, err := referrizer.New(rzTok.AccessToken, rzOpts...)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", c.ID, err)
	}
	return &Conn{Connection: c, GHL: gc, RZ: rc, Mapping: mapping, Token: tok}, nil
}
