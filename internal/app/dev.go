package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/internal/config"
	"github.com/hlrz/hlrz/internal/dispatch"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/schedules"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
)

// DevStack is what --dev adds: both simulators on their ports, signing webhooks to our
// bridge, and a demo connection with seeded people.
type DevStack struct {
	GHL *ghlsim.Server
	RZ  *rzsim.Server
	// WebhookKeys are the simulator's public webhook keys (Ed25519 for X-GHL-Signature, which
	// it sends by default, and RSA for the legacy X-WH-Signature); the bridge trusts them.
	WebhookKeys  ghl.WebhookKeys
	ConnectionID string
	LocationID   string
	// SetupConnectionID and SetupLocationID are the location left to set up from the setup
	// page (pending, no Referrizer token); SetupURL shows that page in the stand-in frame.
	SetupConnectionID, SetupLocationID, SetupURL string
	servers                                      []*http.Server
}

// DevInstallLocation is the simulator location an OAuth install in --dev connects.
const DevInstallLocation = "devInstallLocation1"

const (
	devGHLToken = "demo-ghl-private-integration-token"
	devRZToken  = "demo-referrizer-token"
)

func startDevStack(ctx context.Context, a *App, out io.Writer) (*DevStack, error) {
	cfg := a.Config
	d := &DevStack{}
	d.GHL = ghlsim.New(ghlsim.Options{
		Seed: uint64(time.Now().UnixNano()),
		// Where /oauth/start installs the app: a location of its own, so the install shows
		// a new, pending connection beside the demo one.
		DefaultLocationID: DevInstallLocation,
		// The stand-in for HighLevel's frame shows our setup page (GET /custom-page).
		CustomPageURL: "http://" + a.HTTPAddr + "/app",
		SharedSecret:  orDefault(cfg.GHLSharedSecret, ghlsim.DefaultSharedSecret),
		Webhooks:      ghlsim.WebhookOptions{URL: "http://" + a.HTTPAddr + "/webhooks/ghl"},
	})
	keys, err := d.GHL.WebhookPublicKeys()
	if err != nil {
		d.stop()
		return nil, fmt.Errorf("dev: webhook keys: %w", err)
	}
	d.WebhookKeys = keys
	d.RZ = rzsim.New(rzsim.Options{Seed: uint64(time.Now().UnixNano()), Tokens: []string{devRZToken}})
	for _, s := range []struct {
		name string
		port int
		h    http.Handler
	}{{"--ghl-sim-port", cfg.GHLSimPort, d.GHL.Handler()}, {"--rz-sim-port", cfg.RZSimPort, d.RZ.Handler()}} {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)))
		if err != nil {
			d.stop()
			return nil, fmt.Errorf("%s: cannot listen on 127.0.0.1:%d: %w", s.name, s.port, errors.Unwrap(err))
		}
		srv := NewHTTPServer(cfg.HTTP, s.h, a.log)
		d.servers = append(d.servers, srv)
		go func() { _ = srv.Serve(ln) }()
	}
	fmt.Fprintf(out, "hlrz: HighLevel simulator on http://127.0.0.1:%d, Referrizer simulator on http://127.0.0.1:%d\n", cfg.GHLSimPort, cfg.RZSimPort)
	return d, nil
}

// afterStart creates this boot's demo connection, seeds people, installs schedules and
// starts the backfill. The simulators keep nothing across restarts, so each boot gets a new
// connection (demo-1, demo-2, …) and the previous one is paused, history kept.
func (d *DevStack) afterStart(ctx context.Context, a *App, out io.Writer) error {
	conns, err := a.Store.ListConnections(ctx)
	if err != nil {
		return err
	}
	boot := 1
	mgr := &schedules.Manager{Client: a.Temporal, TaskQueue: a.Config.TaskQueue}
	for _, c := range conns {
		n, ok := strings.CutPrefix(c.ID, "demo-")
		if !ok {
			n, ok = strings.CutPrefix(c.ID, "setup-")
		}
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(n); err == nil && i >= boot {
			boot = i + 1
		}
		if c.Status == store.ConnActive {
			if err := a.Store.SetConnectionStatus(ctx, c.ID, store.ConnPaused, "dev simulators restarted"); err != nil {
				return err
			}
			if err := mgr.Pause(ctx, c.ID, "dev simulators restarted"); err != nil {
				return err
			}
		}
	}
	if d.SetupURL, err = d.addSetupDemo(ctx, a, boot, out); err != nil {
		return err
	}
	d.ConnectionID = fmt.Sprintf("demo-%d", boot)
	d.LocationID = fmt.Sprintf("demoLocation%d", boot)
	d.GHL.AddPrivateToken(d.LocationID, devGHLToken)
	conn, err := a.Store.PutConnection(ctx, store.Connection{
		ID: d.ConnectionID, Name: "Demo gym (simulators)", GHLLocationID: d.LocationID,
		Settings: store.Settings{DefaultRegion: "US", PollEveryMinutes: 1, ReconcileMinutes: 5},
	})
	if err != nil {
		return err
	}
	for _, t := range []store.Token{
		{ConnectionID: conn.ID, Kind: store.TokenGHL, Mode: store.AuthPrivate, AccessToken: devGHLToken},
		{ConnectionID: conn.ID, Kind: store.TokenReferrizer, Mode: store.AuthPrivate, AccessToken: devRZToken},
	} {
		if _, err := a.Store.PutToken(ctx, t); err != nil {
			return err
		}
	}
	if !a.Config.Seed {
		return nil
	}
	n, err := SeedDemo(d.GHL, d.RZ, d.LocationID, devRZToken, 36)
	if err != nil {
		return fmt.Errorf("dev: seed demo data: %w", err)
	}
	if err := mgr.Install(ctx, conn, 0, 0); err != nil {
		return err
	}
	if _, err := StartBackfill(ctx, a.Temporal, a.Config.TaskQueue, conn.ID); err != nil {
		return err
	}
	fmt.Fprintf(out, "hlrz: demo connection %s: %d people seeded, backfill started; open the Temporal UI at http://127.0.0.1:%d\n",
		conn.ID, n, a.Config.UIPort)
	return nil
}

func (d *DevStack) stop() {
	for _, s := range d.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.Shutdown(ctx)
		cancel()
	}
	if d.GHL != nil {
		d.GHL.Close()
	}
}

// StartBackfill starts a connection's backfill (see dispatch.StartBackfill).
func StartBackfill(ctx context.Context, c client.Client, taskQueue, connectionID string) (client.WorkflowRun, error) {
	return dispatch.StartBackfill(ctx, c, taskQueue, connectionID)
}

// webhookKeys are the public keys the bridge trusts, each under its scheme, with a line per
// key saying where it came from: the configured ones (HLRZ_WEBHOOK_PUBLIC_KEYS), extra (tests
// pass the simulator's), in --dev the simulator's, and HighLevel's published key for each
// scheme no configured key covers.
func webhookKeys(cfg *config.Worker, extra ghl.WebhookKeys, dev *DevStack) (ghl.WebhookKeys, []string, error) {
	configured, notes := cfg.WebhookKeys, append([]string(nil), cfg.WebhookKeyNotes...)
	keys, filled, err := configured.WithDefaults()
	if err != nil {
		return keys, nil, err
	}
	for _, scheme := range filled {
		why := "no " + config.EnvWebhookKey
		if configured.Len() > 0 {
			why = "no such key in " + config.EnvWebhookKey
		}
		key := any(keys.RSA[0])
		if scheme == ghl.SchemeEd25519 {
			key = keys.Ed25519[0]
		}
		notes = append(notes, fmt.Sprintf("HighLevel's published key (built in; %s): %s %s", why, scheme, ghl.KeyFingerprint(key)))
	}
	keys.AddAll(extra)
	for _, d := range extra.Describe() {
		notes = append(notes, "added by the caller: "+d)
	}
	if dev != nil {
		keys.AddAll(dev.WebhookKeys)
		for _, d := range dev.WebhookKeys.Describe() {
			notes = append(notes, "HighLevel simulator: "+d)
		}
	}
	return keys, notes, nil
}
