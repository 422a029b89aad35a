// Package devserver runs a real Temporal server and the Temporal Web UI inside the current
// process, persisting to a SQLite file, so `worker --dev` needs nothing installed.
//
// Membership is static (temporal.WithStaticHosts): a restarted process on the same data
// directory finds its history shards again instead of waiting for a ring that no longer
// exists.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// TimerPrecision is how late at most a workflow timer fires on servers we start. Temporal's
// default (history.timerProcessorMaxTimeShift, 1 s) lets a 200 ms debounce fire about a
// second late. A shorter shift makes the timer queue load once per timer instead of once a
// second, so its load rate (history.timerProcessorMaxPollRPS, 20 per shard by default) must
// rise too, or timers beyond the 20th in a second wait seconds for the limiter. A production
// cluster that wants sub-second debounces needs both settings.
const (
	TimerPrecision   = 100 * time.Millisecond
	TimerLoadsPerSec = 500
)

// DynamicConfig is the dynamic configuration of every Temporal server this project starts
// (the dev server here, temporaltest in the tests): search attributes visible as soon as they
// are registered, and timers that fire within TimerPrecision.
func DynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
		dynamicconfig.TimerProcessorMaxTimeShift.Key():              []dynamicconfig.ConstrainedValue{{Value: TimerPrecision}},
		dynamicconfig.TimerProcessorMaxPollRPS.Key():                []dynamicconfig.ConstrainedValue{{Value: TimerLoadsPerSec}},
	}
}

// Config says where the dev server keeps its data and which ports it binds.
type Config struct {
	DataDir   string // holds temporal.db; created if missing
	IP        string // bind address; 127.0.0.1 by default
	Port      int    // frontend gRPC; 7233 by default
	UIPort    int    // Web UI; 8233 by default, -1 disables the UI
	Namespace string // "default" by default
	// SearchAttributes are registered on the namespace when it is created.
	SearchAttributes map[string]enumspb.IndexedValueType
	// CodecEndpoint, when set, is given to the UI so it can decode encrypted payloads. The
	// UI sends the browser's cookies with its codec requests (include credentials), which is
	// how a codec that requires a credential lets it in.
	CodecEndpoint string
	Logger        log.Logger // nil: silent; the server's own logs are noisy at shutdown
}

// Server is a running dev stack.
type Server struct {
	cfg      Config
	temporal temporal.Server
	ui       *uiserver.Server
	uiDone   chan struct{}
}

func (c *Config) setDefaults() {
	if c.IP == "" {
		c.IP = "127.0.0.1"
	}
	if c.Port == 0 {
		c.Port = 7233
	}
	if c.UIPort == 0 {
		c.UIPort = 8233
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
}

// FrontendAddress is the host:port clients dial.
func (s *Server) FrontendAddress() string {
	return net.JoinHostPort(s.cfg.IP, strconv.Itoa(s.cfg.Port))
}

// UIAddress is the Web UI's base URL, or "" when the UI is disabled.
func (s *Server) UIAddress() string {
	if s.cfg.UIPort < 0 {
		return ""
	}
	return "http://" + net.JoinHostPort(s.cfg.IP, strconv.Itoa(s.cfg.UIPort))
}

// Namespace is the namespace created at start.
func (s *Server) Namespace() string { return s.cfg.Namespace }

// ErrPortInUse is returned when a port the dev stack needs is already bound.
var ErrPortInUse = errors.New("port in use")

// Start boots Temporal (and the UI unless disabled) and returns once the frontend accepts
// connections. The caller must call Stop.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("devserver: DataDir is required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("devserver: create data dir: %w", err)
	}
	// Every port is probed before anything starts: the server and the UI would otherwise
	// fail deep inside their goroutines, or exit the process, on a busy port.
	ports, err := pickPorts(cfg)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = log.NewNoopLogger()
	}

	sqlCfg, err := openSQLite(cfg)
	if err != nil {
		return nil, err
	}
	serverCfg, hosts := serverConfig(cfg, ports, sqlCfg)

	srv, err := temporal.NewServer(
		temporal.WithConfig(serverCfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(DynamicConfig()),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: create temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("devserver: start temporal server: %w", err)
	}
	s := &Server{cfg: cfg, temporal: srv}
	if err := s.waitReady(ctx); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	if cfg.UIPort >= 0 {
		s.startUI()
		if err := waitHTTP(ctx, s.UIAddress()); err != nil {
			s.Stop()
			return nil, fmt.Errorf("devserver: web UI did not come up: %w", err)
		}
	}
	return s, nil
}

// openSQLite sets up the schema on first start and creates the namespace; it returns the
// persistence settings for the server.
func openSQLite(cfg Config) (*config.SQL, error) {
	dbPath := filepath.Join(cfg.DataDir, "temporal.db")
	sqlCfg := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      dbPath,
		ConnectAttributes: map[string]string{"mode": "rwc", "_journal_mode": "wal", "_synchronous": "2"},
	}
	if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
		if err := sqlite.SetupSchema(sqlCfg); err != nil {
			return nil, fmt.Errorf("devserver: set up schema in %s: %w", dbPath, err)
		}
	}
	nsCfg, err := sqlite.NewNamespaceConfig("active", cfg.Namespace, false, cfg.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("devserver: namespace config: %w", err)
	}
	// CreateNamespaces skips namespaces that already exist, so a restart keeps history.
	if err := sqlite.CreateNamespaces(sqlCfg, nsCfg); err != nil {
		return nil, fmt.Errorf("devserver: create namespace %q: %w", cfg.Namespace, err)
	}
	return sqlCfg, nil
}

// serverConfig is the Temporal server configuration: one cluster, SQLite persistence,
// archival off, every service on the given ports.
func serverConfig(cfg Config, ports portSet, sqlCfg *config.SQL) (*config.Config, map[primitives.ServiceName]static.Hosts) {
	svcCfg, hosts := serviceLayout(cfg, ports)
	serverCfg := &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: cfg.IP},
			Metrics: &metrics.Config{Prometheus: &metrics.PrometheusConfig{
				ListenAddress: net.JoinHostPort(cfg.IP, strconv.Itoa(ports.metrics)),
				HandlerPath:   "/metrics",
			}},
		},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			FailoverVersionIncrement: 10,
			MasterClusterName:        "active",
			CurrentClusterName:       "active",
			ClusterInformation: map[string]cluster.ClusterInformation{"active": {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Port)),
			}},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            svcCfg,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Port))},
	}
	return serverCfg, hosts
}

// Stop shuts the UI and the server down.
func (s *Server) Stop() {
	if s.ui != nil {
		s.ui.Stop()
		<-s.uiDone
		s.ui = nil
	}
	if s.temporal != nil {
		_ = s.temporal.Stop()
		s.temporal = nil
	}
}

func (s *Server) startUI() {
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: s.FrontendAddress(),
		Host:                s.cfg.IP,
		Port:                s.cfg.UIPort,
		EnableUI:            true,
		DefaultNamespace:    s.cfg.Namespace,
		HideLogs:            true,
		DisableNewsFetch:    true,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		Codec:               uiconfig.Codec{Endpoint: s.cfg.CodecEndpoint, IncludeCredentials: s.cfg.CodecEndpoint != ""},
	}
	s.ui = uiserver.NewServer(uioptions.WithConfigProvider(cfg))
	s.uiDone = make(chan struct{})
	go func() {
		defer close(s.uiDone)
		_ = s.ui.Start()
	}()
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var lastErr error
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: s.FrontendAddress(), Namespace: s.cfg.Namespace, Logger: quietLogger{}})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			if err == nil {
				_, err = c.WorkflowService().DescribeNamespace(ctx, describeNS(s.cfg.Namespace))
			}
			c.Close()
			if err == nil {
				return nil
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("devserver: temporal frontend not ready: %w", lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func waitHTTP(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type portSet struct {
	history, matching, worker int
	memFrontend, memHistory   int
	memMatching, memWorker    int
	metrics                   int
}

// pickPorts checks the fixed ports are free and picks free ephemeral ports for the rest.
func pickPorts(cfg Config) (portSet, error) {
	if err := probe(cfg.IP, cfg.Port, "Temporal frontend"); err != nil {
		return portSet{}, err
	}
	if cfg.UIPort >= 0 {
		if err := probe(cfg.IP, cfg.UIPort, "Temporal UI"); err != nil {
			return portSet{}, err
		}
	}
	free := make([]int, 0, 9)
	listeners := make([]net.Listener, 0, 9)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range 9 {
		l, err := net.Listen("tcp", net.JoinHostPort(cfg.IP, "0"))
		if err != nil {
			return portSet{}, fmt.Errorf("devserver: find free port on %s: %w", cfg.IP, err)
		}
		listeners = append(listeners, l)
		free = append(free, l.Addr().(*net.TCPAddr).Port)
	}
	return portSet{
		history: free[0], matching: free[1], worker: free[2],
		memFrontend: free[3], memHistory: free[4], memMatching: free[5], memWorker: free[6],
		metrics: free[7],
	}, nil
}

func probe(ip string, port int, what string) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("%s port %s:%d: %w", what, ip, port, ErrPortInUse)
	}
	return l.Close()
}

func serviceLayout(cfg Config, p portSet) (map[string]config.Service, map[primitives.ServiceName]static.Hosts) {
	svc := func(grpc, membership int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: grpc, MembershipPort: membership, BindOnIP: cfg.IP}}
	}
	services := map[string]config.Service{
		"frontend": svc(cfg.Port, p.memFrontend),
		"history":  svc(p.history, p.memHistory),
		"matching": svc(p.matching, p.memMatching),
		"worker":   svc(p.worker, p.memWorker),
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, s := range services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(cfg.IP, strconv.Itoa(s.RPC.GRPCPort)))
	}
	return services, hosts
}
