// Package e2e starts the whole product for end-to-end tests, benchmarks and the fault
// suite: a real Temporal server (temporaltest), real PostgreSQL, both simulators over real
// HTTP, and the App exactly as the worker binary assembles it.
package e2e

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/codec"
	"github.com/hlrz/hlrz/internal/config"
	"github.com/hlrz/hlrz/internal/devserver"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/postgres"
	"github.com/hlrz/hlrz/internal/testutil/pgtest"
)

// TestKeySpec is the encryption key of test runs. It is public and only ever encrypts
// synthetic data; committed replay histories are sealed with it.
const TestKeySpec = "test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// TestKeyring parses TestKeySpec.
func TestKeyring() *secrets.Keyring {
	kr, err := secrets.Parse(TestKeySpec)
	if err != nil {
		panic(err)
	}
	return kr
}

// Options shapes an Env.
type Options struct {
	// Mapping is the connection's mapping document; empty means the default.
	Mapping  []byte
	Settings store.Settings
	GHL      ghlsim.Options
	RZ       rzsim.Options
	// Tune adjusts activity dependencies (e.g. a shorter observation TTL).
	Tune func(*app.Options)
	// Restartable runs Temporal as the embedded dev server on a SQLite file instead of
	// temporaltest's in-memory server, so RestartTemporal can stop and start it.
	Restartable bool
}

// Env is a running product with its infrastructure.
type Env struct {
	T          testing.TB
	Server     *temporaltest.TestServer // nil when Restartable
	Dev        *devserver.Server        // set when Restartable
	devCfg     devserver.Config
	Client     client.Client
	Namespace  string
	DSN        string
	Store      *postgres.Store
	GHL        *ghlsim.Server
	RZ         *rzsim.Server
	GHLURL     string
	RZURL      string
	App        *app.App
	Conn       store.Connection
	LocationID string
	RZToken    string
	appOpts    app.Options
}

// CodecToken is the shared codec token of the harness's App.
const CodecToken = "e2e-codec-token-0123456789"

// Start brings up everything; it is torn down when the test ends.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	ctx := context.Background()
	kr := TestKeyring()
	e := &Env{T: t, LocationID: "loc" + store.NewID(), RZToken: "rz-token-" + store.NewID()}
	e.startTemporal(ctx, o, kr)
	e.openStore(ctx, kr)
	key := e.startGHL(o.GHL)
	e.startRZ(o.RZ)
	e.createConnection(ctx, o)
	e.configureApp(o, kr, key)
	e.StartApp()
	return e
}

// startTemporal starts the Temporal server (the restartable dev server when asked) and
// dials a client of it that encrypts payloads with kr.
func (e *Env) startTemporal(ctx context.Context, o Options, kr *secrets.Keyring) {
	t := e.T
	t.Helper()
	copts := client.Options{DataConverter: codec.DataConverter(kr),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel()})))}
	if o.Restartable {
		e.devCfg = devserver.Config{DataDir: t.TempDir(), Port: freePort(t), UIPort: -1, SearchAttributes: domain.SearchAttributes()}
		dev, err := devserver.Start(ctx, e.devCfg)
		if err != nil {
			t.Fatal(err)
		}
		e.Dev = dev
		t.Cleanup(func() { e.Dev.Stop() })
		copts.HostPort, copts.Namespace = dev.FrontendAddress(), dev.Namespace()
		c, err := client.DialContext(ctx, copts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		e.Client, e.Namespace = c, dev.Namespace()
		return
	}
	topts := []temporaltest.TestServerOption{temporaltest.WithBaseClientOptions(copts),
		temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(devserver.DynamicConfig()))}
	if tt, ok := t.(*testing.T); ok {
		topts = append(topts, temporaltest.WithT(tt))
	}
	e.Server = temporaltest.NewServer(topts...)
	if _, ok := t.(*testing.T); !ok {
		t.Cleanup(e.Server.Stop) // WithT does this for tests; benchmarks need it too
	}
	e.Client = e.Server.GetDefaultClient()
	e.Namespace = e.Server.GetDefaultNamespace()
}

// openStore creates the test's own PostgreSQL database and opens the store on it.
func (e *Env) openStore(ctx context.Context, kr *secrets.Keyring) {
	e.T.Helper()
	e.DSN = pgtest.NewDatabase(e.T)
	st, err := postgres.Open(ctx, e.DSN, kr)
	if err != nil {
		e.T.Fatal(err)
	}
	e.Store = st
	e.T.Cleanup(st.Close)
}

// startGHL starts the HighLevel simulator with the location's private token; it returns
// the key that signs its webhooks.
func (e *Env) startGHL(gopts ghlsim.Options) ed25519.PrivateKey {
	e.T.Helper()
	key, err := ghlsim.GenerateKey()
	if err != nil {
		e.T.Fatal(err)
	}
	gopts.PrivateTokens = map[string]string{"ghl-token-" + e.LocationID: e.LocationID}
	gopts.Webhooks.Key = key
	if gopts.Webhooks.RetryInterval == 0 {
		// HighLevel retries a 429 after about 10 minutes; tests scale that 1:600.
		gopts.Webhooks.RetryInterval = time.Second
	}
	if gopts.Seed == 0 {
		gopts.Seed = 42
	}
	if gopts.RateMax == 0 {
		// HighLevel's limit shape (a burst per interval) scaled up, so functional tests are
		// not paced by it; benchmarks set the real shape.
		gopts.RateMax, gopts.RateInterval = 2000, time.Second
	}
	e.GHL = ghlsim.New(gopts)
	e.T.Cleanup(e.GHL.Close)
	gs := httptest.NewServer(e.GHL.Handler())
	e.T.Cleanup(gs.Close)
	e.GHLURL = gs.URL
	return key
}

// startRZ starts the Referrizer simulator, which accepts the test's token.
func (e *Env) startRZ(ropts rzsim.Options) {
	ropts.Tokens = append(ropts.Tokens, e.RZToken)
	if ropts.Seed == 0 {
		ropts.Seed = 43
	}
	e.RZ = rzsim.New(ropts)
	rs := httptest.NewServer(e.RZ.Handler())
	e.T.Cleanup(rs.Close)
	e.RZURL = rs.URL
}

// createConnection stores the test's connection with both sides' tokens.
func (e *Env) createConnection(ctx context.Context, o Options) {
	e.T.Helper()
	settings := o.Settings
	if settings.DebounceMillis == 0 {
		settings.DebounceMillis = 200
	}
	settings.RZRequestsPerSec = max(settings.RZRequestsPerSec, 1000)
	var err error
	e.Conn, err = e.Store.PutConnection(ctx, store.Connection{ID: "c" + strings.ToLower(store.NewID()[:8]), Name: "test", GHLLocationID: e.LocationID, Mapping: o.Mapping, Settings: settings})
	if err != nil {
		e.T.Fatal(err)
	}
	for _, tok := range []store.Token{
		{ConnectionID: e.Conn.ID, Kind: store.TokenGHL, Mode: store.AuthPrivate, AccessToken: "ghl-token-" + e.LocationID},
		{ConnectionID: e.Conn.ID, Kind: store.TokenReferrizer, Mode: store.AuthPrivate, AccessToken: e.RZToken},
	} {
		if _, err := e.Store.PutToken(ctx, tok); err != nil {
			e.T.Fatal(err)
		}
	}
}

// configureApp sets the product's options: this Env's Temporal, store and simulators,
// then the test's Tune.
func (e *Env) configureApp(o Options, kr *secrets.Keyring, key ed25519.PrivateKey) {
	e.appOpts = app.Options{
		Config: &config.Worker{
			Mode: config.ModeAll, Listen: "127.0.0.1:0", TaskQueue: "hlrz-" + store.NewID(), LogLevel: "warn",
			Keys: kr, GHLBaseURL: e.GHLURL, RZBaseURL: e.RZURL, WebhookMaxAge: 75 * time.Minute, WebhookMaxSkew: 5 * time.Minute,
			CodecTokens: []string{CodecToken},
		},
		Temporal: e.Client, Namespace: e.Namespace, Store: e.Store,
		WebhookKeys: ghl.WebhookKeys{Ed25519: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}},
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel()})),
	}
	if o.Tune != nil {
		o.Tune(&e.appOpts)
	}
}

// StartApp starts (or restarts) the product and points HighLevel's webhooks at its bridge.
func (e *Env) StartApp() {
	e.T.Helper()
	a, err := app.Start(context.Background(), e.appOpts)
	if err != nil {
		e.T.Fatalf("start app: %v", err)
	}
	e.App = a
	e.T.Cleanup(a.Stop)
	wh := e.GHL.Webhooks()
	wh.URL = "http://" + a.HTTPAddr + "/webhooks/ghl"
	e.GHL.SetWebhooks(wh)
}

// StopApp stops the product, as a crash or deploy would (workflows stay in Temporal).
func (e *Env) StopApp() { e.App.Stop() }

// RestartTemporal stops the Temporal server and starts it again on the same file and port
// after down; clients and workers reconnect on their own.
func (e *Env) RestartTemporal(down time.Duration) {
	e.T.Helper()
	if e.Dev == nil {
		e.T.Fatal("RestartTemporal needs Options.Restartable")
	}
	e.Dev.Stop()
	time.Sleep(down)
	dev, err := devserver.Start(context.Background(), e.devCfg)
	if err != nil {
		e.T.Fatalf("restart Temporal: %v", err)
	}
	e.Dev = dev
}

// OutageDatabase makes the product's database unreachable for down, as a PostgreSQL
// restart looks to its clients: every connection to it is dropped and new ones are refused
// until it is back. Other databases on the server (other tests) are not touched.
func (e *Env) OutageDatabase(down time.Duration) {
	e.T.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.AdminDSN())
	if err != nil {
		e.T.Fatal(err)
	}
	defer admin.Close(ctx)
	u, _ := url.Parse(e.DSN)
	db := strings.TrimPrefix(u.Path, "/")
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS false"); err != nil {
		e.T.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", db); err != nil {
		e.T.Fatal(err)
	}
	time.Sleep(down)
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS true"); err != nil {
		e.T.Fatal(err)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Eventually polls cond until it holds or the timeout passes.
func (e *Env) Eventually(timeout time.Duration, what string, cond func() (bool, string)) {
	e.T.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		time.Sleep(100 * time.Millisecond)
	}
	e.T.Fatalf("timed out after %s waiting for %s: %s", timeout, what, last)
}

// RZContacts returns the Referrizer account's contacts.
func (e *Env) RZContacts() []rzsim.Contact { return e.RZ.Contacts(e.RZToken) }

// GHLContacts returns the location's HighLevel contacts.
func (e *Env) GHLContacts() []ghlsim.Contact {
	var out []ghlsim.Contact
	for _, c := range e.GHL.Snapshot().Contacts {
		if c.LocationID == e.LocationID {
			out = append(out, c)
		}
	}
	return out
}

// RecordHistories writes the histories of this test's workflows of the given types to
// workflows/testdata when HLRZ_RECORD_HISTORIES=1, for the replay tests. Call it when the
// sync is idle: a running entity workflow's history then ends at a completed workflow task,
// which replays like a closed one.
func (e *Env) RecordHistories(prefix string, types ...string) {
	if os.Getenv("HLRZ_RECORD_HISTORIES") != "1" {
		return
	}
	ctx := context.Background()
	dir := filepath.Join(moduleRoot(e.T), "workflows", "testdata")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.T.Fatal(err)
	}
	for _, typ := range types {
		resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: e.Namespace, Query: fmt.Sprintf("WorkflowType = '%s'", typ), PageSize: 5,
		})
		if err != nil {
			e.T.Fatalf("list %s: %v", typ, err)
		}
		for i, ex := range resp.Executions {
			if i >= 2 {
				continue
			}
			iter := e.Client.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			hist := &historyJSON{}
			for iter.HasNext() {
				ev, err := iter.Next()
				if err != nil {
					e.T.Fatal(err)
				}
				hist.add(ev)
			}
			name := filepath.Join(dir, fmt.Sprintf("%s-%s-%d.json", prefix, typ, i))
			if err := hist.write(name); err != nil {
				e.T.Fatal(err)
			}
			e.T.Logf("recorded %s", name)
		}
	}
}

func moduleRoot(t testing.TB) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// testLogLevel is warn unless HLRZ_TEST_LOG names another level (debug, info, …).
func testLogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("HLRZ_TEST_LOG"))); err != nil {
		return slog.LevelWarn
	}
	return l
}
