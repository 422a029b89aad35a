package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	sdklog "go.temporal.io/sdk/log"

	"github.com/hlrz/hlrz/internal/codec"
	"github.com/hlrz/hlrz/internal/config"
	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/postgres"
	"github.com/hlrz/hlrz/internal/store/sqlite"
)

// Dev stack addresses, as `worker --dev` uses them by default.
const (
	devTemporal  = "127.0.0.1:7233"
	devGHLURL    = "http://127.0.0.1:8091"
	devRZURL     = "http://127.0.0.1:8092"
	devPublicURL = "http://127.0.0.1:8080"
	defaultRZURL = "https://api.referrizer.com"
	defaultQueue = "hlrz-sync"
)

// keyring returns the encryption keys: HLRZ_ENCRYPTION_KEYS, or with --dev the key the dev
// stack wrote to its data directory (the worker prefers the variable too).
func (a *app) keyring() (*secrets.Keyring, error) {
	if a.keys != nil {
		return a.keys, nil
	}
	spec, source := a.getenv(config.EnvKeys), config.EnvKeys
	if spec == "" {
		if !a.dev {
			return nil, usageErr("%s: not set; it must be the worker's key (or use --dev for the local stack)", config.EnvKeys)
		}
		source = filepath.Join(a.dataDir, "dev-encryption.key")
		raw, err := os.ReadFile(source)
		if errors.Is(err, os.ErrNotExist) {
			return nil, usageErr("--dev: %s does not exist; start the dev stack first (go run ./worker --dev) or pass --data-dir", source)
		}
		if err != nil {
			return nil, fmt.Errorf("--dev: read %s: %w", source, err)
		}
		spec = string(raw)
	}
	kr, err := secrets.Parse(strings.TrimSpace(spec))
	if err != nil {
		return nil, usageErr("%s: %w", source, err)
	}
	a.keys = kr
	return kr, nil
}

// store opens the worker's store: DATABASE_URL, or with --dev the dev stack's SQLite file.
func (a *app) store() (store.Store, error) {
	if a.st != nil {
		return a.st, nil
	}
	kr, err := a.keyring()
	if err != nil {
		return nil, err
	}
	var st store.Store
	if dsn := a.getenv(config.EnvDatabaseURL); dsn != "" {
		pg, err := postgres.Open(a.ctx, dsn, kr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvDatabaseURL, err)
		}
		st = pg
	} else {
		if !a.dev {
			return nil, usageErr("%s: not set; point it at the worker's PostgreSQL (or use --dev for the local stack)", config.EnvDatabaseURL)
		}
		path := filepath.Join(a.dataDir, "hlrz.db")
		// Opening would create an empty database; a missing file means a wrong --data-dir.
		if _, err := os.Stat(path); err != nil {
			return nil, usageErr("--dev: %s does not exist; start the dev stack first (go run ./worker --dev) or pass --data-dir", path)
		}
		lite, err := sqlite.Open(a.ctx, path, kr)
		if err != nil {
			return nil, fmt.Errorf("--dev: open %s: %w", path, err)
		}
		st = lite
	}
	a.st = st
	a.closers = append(a.closers, st.Close)
	return st, nil
}

// temporal dials Temporal with the payload codec, so what the CLI sends and reads is
// encrypted exactly like the worker's payloads.
func (a *app) temporal() (client.Client, string, error) {
	if a.tc != nil {
		return a.tc, a.tcNS, nil
	}
	kr, err := a.keyring()
	if err != nil {
		return nil, "", err
	}
	var copts client.Options
	if a.dev {
		copts = client.Options{HostPort: devTemporal, Namespace: client.DefaultNamespace}
	} else if copts, err = envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{EnvLookup: envLookup(a.getenv)}); err != nil {
		return nil, "", usageErr("TEMPORAL_* configuration: %w", err)
	}
	if copts.HostPort == "" {
		copts.HostPort = client.DefaultHostPort
	}
	if copts.Namespace == "" {
		copts.Namespace = client.DefaultNamespace
	}
	copts.DataConverter = codec.DataConverter(kr)
	// The SDK logs to stdout by default; stdout is for results.
	copts.Logger = sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	ctx, cancel := context.WithTimeout(a.ctx, 15*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, copts)
	if err != nil {
		source := config.EnvTemporalAddr
		if a.dev {
			source = "--dev (is go run ./worker --dev running?)"
		}
		return nil, "", fmt.Errorf("%s: cannot reach Temporal at %s: %w", source, copts.HostPort, err)
	}
	a.tc, a.tcNS = c, copts.Namespace
	a.closers = append(a.closers, c.Close)
	return c, copts.Namespace, nil
}

func (a *app) taskQueue() string { return a.envOr(config.EnvTaskQueue, defaultQueue) }

func (a *app) ghlBaseURL() string {
	if a.dev {
		return a.envOr(config.EnvGHLBaseURL, devGHLURL)
	}
	return a.envOr(config.EnvGHLBaseURL, ghl.DefaultBaseURL)
}

func (a *app) rzBaseURL() string {
	if a.dev {
		return a.envOr(config.EnvRZBaseURL, devRZURL)
	}
	return a.envOr(config.EnvRZBaseURL, defaultRZURL)
}

func (a *app) publicURL() string {
	if a.dev {
		return a.envOr(config.EnvPublicURL, devPublicURL)
	}
	return a.getenv(config.EnvPublicURL)
}

func (a *app) envOr(name, def string) string {
	if v := a.getenv(name); v != "" {
		return v
	}
	return def
}

// connectors returns a connector registry like the worker's, for in-process planning.
func (a *app) connectors() (*connector.Registry, error) {
	if a.registry != nil {
		return a.registry, nil
	}
	st, err := a.store()
	if err != nil {
		return nil, err
	}
	var oauth *ghl.OAuthApp
	if id := a.getenv(config.EnvGHLClientID); id != "" {
		// Needed only to refresh an expired OAuth token; the rotation is locked in the store,
		// so refreshing here cannot race the worker.
		oauth = &ghl.OAuthApp{ClientID: id, ClientSecret: a.getenv(config.EnvGHLSecret), RedirectURL: strings.TrimRight(a.publicURL(), "/") + "/oauth/callback"}
		if a.dev {
			oauth.TokenURL = a.ghlBaseURL() + "/oauth/token"
		}
	}
	reg := connector.New(connector.Options{Store: st, GHLBaseURL: a.ghlBaseURL(), RZBaseURL: a.rzBaseURL(), OAuth: oauth})
	a.registry = reg
	return reg, nil
}

// connection resolves --connection, defaulting to the only active connection.
func (a *app) connection() (store.Connection, error) {
	st, err := a.store()
	if err != nil {
		return store.Connection{}, err
	}
	if a.connID != "" {
		c, err := st.GetConnection(a.ctx, a.connID)
		if errors.Is(err, store.ErrNotFound) {
			return c, notFoundErr("connection %q not found (see `starter connections list`)", a.connID)
		}
		if err != nil {
			return c, fmt.Errorf("read connection %s: %w", a.connID, err)
		}
		return c, nil
	}
	all, err := st.ListConnections(a.ctx)
	if err != nil {
		return store.Connection{}, fmt.Errorf("list connections: %w", err)
	}
	var active []store.Connection
	for _, c := range all {
		if c.Status == store.ConnActive {
			active = append(active, c)
		}
	}
	switch len(active) {
	case 1:
		return active[0], nil
	case 0:
		return store.Connection{}, usageErr("no active connection; name one with --connection or create one with `starter connect`")
	}
	ids := make([]string, len(active))
	for i, c := range active {
		ids[i] = c.ID
	}
	return store.Connection{}, usageErr("%d active connections (%s); choose one with --connection", len(ids), strings.Join(ids, ", "))
}

// readArg reads a file argument; "-" is stdin.
func (a *app) readArg(name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(a.opts.stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, notFoundErr("%s: no such file", name)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// envLookup gives envconfig the CLI's environment instead of the process's, so tests can
// run the CLI in-process with their own TEMPORAL_* values.
type envLookup func(string) string

func (e envLookup) LookupEnv(k string) (string, bool) {
	v := e(k)
	return v, v != ""
}

// Environ lists the TEMPORAL_* variables, for envconfig's prefix scans (gRPC metadata).
func (e envLookup) Environ() []string {
	names := slices.Clone(config.EnvNames())
	for _, kv := range os.Environ() {
		if k, _, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "TEMPORAL_") {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var out []string
	for _, k := range slices.Compact(names) {
		if v := e(k); v != "" && strings.HasPrefix(k, "TEMPORAL_") {
			out = append(out, k+"="+v)
		}
	}
	return out
}
