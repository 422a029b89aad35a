package app

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/config"
	"github.com/hlrz/hlrz/internal/setupapp"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/store"
)

// DevSetupRZToken is the Referrizer token of the --dev onboarding location's account: the
// newcomer pastes it into the setup page.
const DevSetupRZToken = "demo-setup-referrizer-token"

// sharedSecret is the marketplace app's Shared Secret: HLRZ_GHL_SHARED_SECRET, or in --dev
// without one the HighLevel simulator's.
func (a *App) sharedSecret() string {
	if s := a.Config.GHLSharedSecret; s != "" {
		return s
	}
	if a.Dev != nil {
		return ghlsim.DefaultSharedSecret
	}
	return ""
}

// mountSetupPage serves the business's setup page (/app) on the public mux when a Shared
// Secret is known; without one /app stays 404.
func (a *App) mountSetupPage(public *http.ServeMux) error {
	secret := a.sharedSecret()
	if secret == "" {
		a.log.Info("setup page off: no " + config.EnvGHLShared)
		return nil
	}
	h, err := setupapp.New(setupapp.Config{
		Store: a.Store, Keys: a.Config.Keys, SharedSecret: secret, Temporal: a.Temporal, TaskQueue: a.Config.TaskQueue,
		Conns: a.Conns, Signal: a.Dispatch, Preview: activities.PreviewFirstSync, RZBaseURL: a.Config.RZBaseURL,
		Logger: a.log,
	})
	if err != nil {
		return fmt.Errorf("setup page: %w", err)
	}
	h.Routes(public)
	return nil
}

// addSetupDemo makes the --dev onboarding location: installed (a pending connection with
// its HighLevel token) but with no Referrizer token, no mapping and no backfill, and people
// seeded on both sides, so a newcomer sets it up from the setup page alone. It returns the
// URL of the simulator's stand-in HighLevel frame showing the page for that location.
func (d *DevStack) addSetupDemo(ctx context.Context, a *App, boot int, out io.Writer) (string, error) {
	connID, loc := fmt.Sprintf("setup-%d", boot), fmt.Sprintf("setupLocation%d", boot)
	token := fmt.Sprintf("demo-setup-ghl-token-%d", boot)
	d.GHL.AddPrivateToken(loc, token)
	conn, err := a.Store.PutConnection(ctx, store.Connection{
		ID: connID, Name: "Gym to set up (simulators)", GHLLocationID: loc, Status: store.ConnPending,
		StatusReason: "waiting for the Referrizer token", Settings: store.Settings{DefaultRegion: "US", PollEveryMinutes: 1, ReconcileMinutes: 5},
	})
	if err != nil {
		return "", err
	}
	if _, err := a.Store.PutToken(ctx, store.Token{ConnectionID: conn.ID, Kind: store.TokenGHL, Mode: store.AuthPrivate, AccessToken: token}); err != nil {
		return "", err
	}
	d.RZ.AddAccount(DevSetupRZToken)
	if a.Config.Seed {
		if _, err := SeedDemo(d.GHL, d.RZ, loc, DevSetupRZToken, 24); err != nil {
			return "", fmt.Errorf("dev: seed the location to set up: %w", err)
		}
	}
	d.SetupConnectionID, d.SetupLocationID = connID, loc
	u := fmt.Sprintf("http://127.0.0.1:%d/custom-page?location=%s", a.Config.GHLSimPort, loc)
	fmt.Fprintf(out, "hlrz: set up a location from the page inside (simulated) HighLevel: open %s and paste the Referrizer token %s\n", u, DevSetupRZToken)
	return u, nil
}
