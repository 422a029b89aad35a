package e2e

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/hlrz/hlrz/internal/codec"
	"github.com/hlrz/hlrz/internal/config"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/sim/simclient"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/postgres"
)

// ProcEnv is the product deployed as processes: PostgreSQL, Temporal, the simulators and
// the worker, each its own OS process, driven only through their public interfaces (SQL,
// Temporal's API, the simulators' admin HTTP APIs, the worker's environment).
type ProcEnv struct {
	T        testing.TB
	Bins     Binaries
	PG       *PG
	Temporal *Proc
	Sims     *Proc
	Worker   *Proc // nil until StartWorker

	Client    client.Client // the test's own Temporal client
	Namespace string
	Store     *postgres.Store // the test's own connection to the product's database
	GHL       simclient.GHL
	RZ        simclient.RZ
	GHLURL    string
	RZURL     string
	KeyFile   string // the HighLevel simulator's webhook public key (PEM)

	LocationID, GHLToken, RZToken, TaskQueue string
	Conn                                     store.Connection
	WorkerAddr                               string // the worker's fixed public listen address
	InternalAddr                             string // its internal listener: /metrics, codec
	temporalPort                             int
	temporalDir                              string
}

// ProcOptions shapes StartProcsWith's simulators.
type ProcOptions struct {
	// RateMax requests per RateInterval per location on the HighLevel simulator; zero
	// gives the fault suite's 2000 per 1 s (HighLevel's shape scaled up).
	RateMax      int
	RateInterval time.Duration
}

// StartProcs builds the binaries and starts PostgreSQL, Temporal and the simulators; the
// connection (Connect) and the worker (StartWorker) come next.
func StartProcs(t testing.TB) *ProcEnv { return StartProcsWith(t, ProcOptions{}) }

// StartProcsWith is StartProcs with the simulators shaped by o.
func StartProcsWith(t testing.TB, o ProcOptions) *ProcEnv {
	t.Helper()
	if o.RateMax <= 0 || o.RateInterval <= 0 {
		o.RateMax, o.RateInterval = 2000, time.Second
	}
	e := &ProcEnv{T: t, LocationID: "loc" + strings.ToLower(store.NewID()[:10]), GHLToken: "ghl-" + store.NewID(), RZToken: "rz-" + store.NewID(),
		TaskQueue: "hlrz-" + store.NewID()}
	e.Bins = BuildBinaries(t)
	e.PG = StartPG(t)

	e.temporalPort, e.temporalDir = freePort(t), t.TempDir()
	e.Temporal = NewProc(t, "temporal", e.Bins.Temporal, []string{"--data-dir", e.temporalDir, "--port", strconv.Itoa(e.temporalPort)}, nil)
	e.Temporal.Attempts = 3
	e.Temporal.Start("TEMPORAL_NAMESPACE=", 3*time.Minute)
	e.Namespace = e.Temporal.Var("TEMPORAL_NAMESPACE")

	e.KeyFile = filepath.Join(t.TempDir(), "ghlsim-webhook.pem")
	e.Sims = StartProc(t, "sims", e.Bins.Sims, []string{"--ghl-addr", "127.0.0.1:0", "--rz-addr", "127.0.0.1:0", "--webhook-key-out", e.KeyFile,
		"--ghl-location", e.LocationID, "--ghl-token", e.GHLToken, "--rz-token", e.RZToken,
		// HighLevel's limit shape scaled up and its 10-minute webhook retry scaled 1:600.
		"--rate-max", strconv.Itoa(o.RateMax), "--rate-interval", o.RateInterval.String(), "--webhook-retry-interval", "1s", "--seed", "42"}, nil, "hlrz-sims:", time.Minute)
	e.GHLURL, e.RZURL = e.Sims.Var(config.EnvGHLBaseURL), e.Sims.Var(config.EnvRZBaseURL)
	e.GHL, e.RZ = simclient.GHL{BaseURL: e.GHLURL}, simclient.RZ{BaseURL: e.RZURL}

	ctx := context.Background()
	st, err := postgres.Open(ctx, e.PG.DSN(), TestKeyring())
	if err != nil {
		t.Fatal(err)
	}
	e.Store = st
	t.Cleanup(st.Close)
	c, err := client.DialContext(ctx, client.Options{HostPort: e.Temporal.Var("TEMPORAL_ADDRESS"), Namespace: e.Namespace,
		DataConverter: codec.DataConverter(TestKeyring()),
		Logger:        sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))})
	if err != nil {
		t.Fatal(err)
	}
	e.Client = c
	t.Cleanup(c.Close)
	e.WorkerAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.InternalAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	return e
}

// Connect stores the connection with its tokens, as an operator's install would.
func (e *ProcEnv) Connect(mapping []byte, settings store.Settings) {
	e.T.Helper()
	e.Conn = e.AddConnection("fault suite", e.LocationID, e.GHLToken, e.RZToken, mapping, settings)
}

// AddLocation opens one more HighLevel location and Referrizer account on the simulators,
// each with a token of its own, and stores their connection: another customer of the same
// worker. It returns the connection (GHLLocationID holds the location) and the tokens.
func (e *ProcEnv) AddLocation(name string, mapping []byte, settings store.Settings) (conn store.Connection, ghlToken, rzToken string) {
	e.T.Helper()
	loc, ghlToken, rzToken := "loc"+strings.ToLower(store.NewID()[:10]), "ghl-"+store.NewID(), "rz-"+store.NewID()
	if err := e.GHL.AddPrivateToken(loc, ghlToken); err != nil {
		e.T.Fatal(err)
	}
	if err := e.RZ.AddAccount(rzToken); err != nil {
		e.T.Fatal(err)
	}
	return e.AddConnection(name, loc, ghlToken, rzToken, mapping, settings), ghlToken, rzToken
}

// AddConnection stores a connection of location loc with its two tokens.
func (e *ProcEnv) AddConnection(name, loc, ghlToken, rzToken string, mapping []byte, settings store.Settings) store.Connection {
	e.T.Helper()
	ctx := context.Background()
	conn, err := e.Store.PutConnection(ctx, store.Connection{ID: "c" + strings.ToLower(store.NewID()[:8]), Name: name, GHLLocationID: loc, Mapping: mapping, Settings: settings})
	if err != nil {
		e.T.Fatal(err)
	}
	for _, tok := range []store.Token{
		{ConnectionID: conn.ID, Kind: store.TokenGHL, Mode: store.AuthPrivate, AccessToken: ghlToken},
		{ConnectionID: conn.ID, Kind: store.TokenReferrizer, Mode: store.AuthPrivate, AccessToken: rzToken},
	} {
		if _, err := e.Store.PutToken(ctx, tok); err != nil {
			e.T.Fatal(err)
		}
	}
	return conn
}

// StartWorker starts the worker binary (again), configured through its environment only.
func (e *ProcEnv) StartWorker() {
	e.T.Helper()
	if e.Worker != nil {
		e.Worker.Start("mode, task queue", 2*time.Minute)
		return
	}
	e.Worker = StartProc(e.T, "worker", e.Bins.Worker, nil, e.workerEnv(e.WorkerAddr, e.InternalAddr), "mode, task queue", 2*time.Minute)
}

// StartExtraWorker starts one more worker process on the same database, Temporal task queue
// and simulators, with listeners of its own; it returns the process and its internal
// listener's address (/status/budgets, /metrics).
func (e *ProcEnv) StartExtraWorker(name string) (*Proc, string) {
	e.T.Helper()
	public, internal := fmt.Sprintf("127.0.0.1:%d", freePort(e.T)), fmt.Sprintf("127.0.0.1:%d", freePort(e.T))
	return StartProc(e.T, name, e.Bins.Worker, nil, e.workerEnv(public, internal), "mode, task queue", 2*time.Minute), internal
}

// workerEnv is a worker process's whole configuration.
func (e *ProcEnv) workerEnv(public, internal string) []string {
	return []string{
		config.EnvDatabaseURL + "=" + e.PG.DSN(),
		secrets.KeyEnv + "=" + TestKeySpec,
		config.EnvListen + "=" + public,
		config.EnvInternal + "=" + internal,
		config.EnvTaskQueue + "=" + e.TaskQueue,
		config.EnvLogLevel + "=warn",
		config.EnvWebhookKey + "=" + e.KeyFile,
		config.EnvGHLBaseURL + "=" + e.GHLURL,
		config.EnvRZBaseURL + "=" + e.RZURL,
		config.EnvTemporalAddr + "=" + e.Temporal.Var("TEMPORAL_ADDRESS"),
		config.EnvTemporalNS + "=" + e.Namespace,
	}
}

// WebhookURL is where the worker's bridge takes HighLevel webhooks.
func (e *ProcEnv) WebhookURL() string { return "http://" + e.WorkerAddr + "/webhooks/ghl" }

// KillWorker SIGKILLs the worker: activities in flight are abandoned mid-call.
func (e *ProcEnv) KillWorker() { e.Worker.Kill() }

// KillTemporal SIGKILLs the Temporal server, waits down and starts it on the same data.
func (e *ProcEnv) KillTemporal(down time.Duration) {
	e.T.Helper()
	e.Temporal.Kill()
	time.Sleep(down)
	e.Temporal.Start("TEMPORAL_NAMESPACE=", 3*time.Minute)
}

// ActivitySlotsUsed reads the worker's /metrics: how many activities it is running now
// (the SDK's worker_task_slots_used gauge for the activity worker); -1 when unknown.
func (e *ProcEnv) ActivitySlotsUsed() int {
	resp, err := metricsClient.Get("http://" + e.InternalAddr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	used := -1
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.Contains(line, "worker_task_slots_used") || !strings.Contains(line, `worker_type="ActivityWorker"`) {
			continue
		}
		fields := strings.Fields(line)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			used = max(used, 0) + int(v)
		}
	}
	return used
}

var metricsClient = &http.Client{Timeout: 2 * time.Second}
