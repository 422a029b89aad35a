package ghl_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/store"
)

// installCompany runs an agency's bulk install on locs and exchanges the code.
func (e *env) installCompany(t *testing.T, app *ghl.OAuthApp, locs string) ghl.Grant {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(app.AuthCodeURL("st", oauth2.SetAuthURLParam("userType", "Company"), oauth2.SetAuthURLParam("locationIds", locs)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := resp.Location()
	if err != nil {
		t.Fatalf("choose-location answered %d: %v", resp.StatusCode, err)
	}
	g, err := app.Exchange(context.Background(), back.Query().Get("code"))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return g
}

// TestLocationTokensFromCompanyToken: after an agency's bulk install the app holds a Company
// token; each location's connection obtains (and later renews) its Location token from it
// with POST /oauth/locationToken, every exchange checked against HighLevel's oauth.json.
func TestLocationTokensFromCompanyToken(t *testing.T) {
	const other = "locSim00000000000002"
	for _, drv := range stores {
		t.Run(drv.name, func(t *testing.T) {
			e := newEnv(t, ghlsim.Options{})
			ctx := ctxT(t)
			app := e.app()
			g := e.installCompany(t, app, loc+","+other)
			if g.UserType != "Company" || g.LocationID != "" || g.CompanyID == "" || !g.IsBulkInstallation ||
				strings.Join(g.ApprovedLocations, ",") != loc+","+other {
				t.Fatalf("company grant %v approved %v bulk %v", g, g.ApprovedLocations, g.IsBulkInstallation)
			}
			// A Company token reaches no location API.
			if _, err := e.client(t, ghl.StaticToken(g.AccessToken), nil).ListCustomFields(ctx, "contact"); !errors.Is(err, ghl.ErrUnauthorized) {
				t.Errorf("company token on a location API: %v, want unauthorized", err)
			}
			contact := seedContact(t, e.sim, "seed@example.com")
			st, _ := drv.open(t)
			putConnection(t, st, "conn-1")
			// Stored expired, so the first use refreshes it (user_type=Company) first.
			ct := g.CompanyToken()
			ct.Expiry = time.Now().Add(-time.Minute)
			if _, err := st.PutCompanyToken(ctx, g.CompanyID, ct); err != nil {
				t.Fatal(err)
			}
			lg, err := app.LocationToken(ctx, g.AccessToken, g.CompanyID, loc)
			if err != nil {
				t.Fatalf("location token: %v", err)
			}
			if lg.LocationID != loc || lg.AccessToken == "" || time.Until(lg.Expiry) < 23*time.Hour || strings.Contains(lg.String()+lg.GoString(), lg.AccessToken) {
				t.Fatalf("location grant %v", lg)
			}
			tok := lg.StoreToken("conn-1")
			tok.Expiry = time.Now().Add(-time.Minute) // expired: renewed from the company token
			if _, err := st.PutToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			e.sim.ResetStats()
			src, err := ghl.NewStoredToken(ghl.StoredTokenConfig{App: app, Tokens: st, Connections: st, ConnectionID: "conn-1",
				Companies: st, CompanyID: g.CompanyID, LocationID: loc})
			if err != nil {
				t.Fatal(err)
			}
			c := e.client(t, src, nil)
			if _, err := c.GetContact(ctx, contact.ID); err != nil {
				t.Fatalf("get with a renewed Location token: %v", err)
			}
			tr := e.sim.Stats().TokenRequests
			if tr["locationToken"] != 1 || tr["refresh_token"] != 1 {
				t.Errorf("token requests %v, want one company refresh and one Location token", tr)
			}
			stored, _ := st.GetToken(ctx, "conn-1", store.TokenGHL)
			if stored.Mode != store.AuthCompany || stored.AccessToken == tok.AccessToken || time.Until(stored.Expiry) < 23*time.Hour {
				t.Errorf("stored Location token not renewed: mode %s", stored.Mode)
			}
			company, _ := st.GetCompanyToken(ctx, g.CompanyID)
			if company.RefreshToken == g.RefreshToken || time.Until(company.Expiry) < 23*time.Hour {
				t.Errorf("company token not rotated")
			}

			// The agency removes the app from the location: no new Location token, the
			// connection needs a new install.
			e.sim.UninstallFromCompany(loc)
			if _, err := c.GetContact(ctx, contact.ID); !errors.Is(err, ghl.ErrReconnectRequired) {
				t.Fatalf("after the agency uninstalled: %v, want ErrReconnectRequired", err)
			}
			if conn, _ := st.GetConnection(ctx, "conn-1"); conn.Status != store.ConnReconnectRequired || !strings.Contains(conn.StatusReason, "Location token") {
				t.Errorf("connection %s (%q)", conn.Status, conn.StatusReason)
			}
			// A location the agency did not approve gets none either.
			if _, err := app.LocationToken(ctx, company.AccessToken, g.CompanyID, "locNotApproved000001"); err == nil {
				t.Error("Location token for a location the agency did not approve")
			}
			e.assertContract(t)
			if seen := e.rec.Seen(); len(seen["get-location-access-token"]) == 0 {
				t.Errorf("POST /oauth/locationToken was not checked against the spec: %v", seen)
			}
		})
	}
}

// TestStoredTokenSwitchesToCompanyMode: a source that loaded an OAuth Location token finds,
// when it next refreshes, that an agency's re-install replaced it with a Location token from
// the Company token; it renews that one from the company instead of failing.
func TestStoredTokenSwitchesToCompanyMode(t *testing.T) {
	for _, drv := range stores {
		t.Run(drv.name, func(t *testing.T) {
			e := newEnv(t, ghlsim.Options{})
			ctx := ctxT(t)
			app := e.app()
			single := e.install(t, app)
			st, _ := drv.open(t)
			putConnection(t, st, "conn-1")
			storedOAuth(t, st, "conn-1", single, single.Expiry)
			cg := e.installCompany(t, app, loc)
			if _, err := st.PutCompanyToken(ctx, cg.CompanyID, cg.CompanyToken()); err != nil {
				t.Fatal(err)
			}
			src, err := ghl.NewStoredToken(ghl.StoredTokenConfig{App: app, Tokens: st, Connections: st, ConnectionID: "conn-1",
				Companies: st, CompanyID: cg.CompanyID, LocationID: loc})
			if err != nil {
				t.Fatal(err)
			}
			first, err := src.AccessToken(ctx)
			if err != nil || first != single.AccessToken {
				t.Fatalf("first token: %v", err)
			}
			lg, err := app.LocationToken(ctx, cg.AccessToken, cg.CompanyID, loc)
			if err != nil {
				t.Fatal(err)
			}
			tok := lg.StoreToken("conn-1")
			tok.Expiry = time.Now().Add(-time.Minute)
			if _, err := st.PutToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			src.Invalidate(ctx, first) // HighLevel answered 401 to the old token
			got, err := src.AccessToken(ctx)
			if err != nil || got == first || got == lg.AccessToken {
				t.Fatalf("after the switch: %v (want a new Location token from the company)", err)
			}
			if n := e.sim.Stats().TokenRequests["locationToken"]; n != 2 {
				t.Errorf("locationToken requests = %d, want 2", n)
			}
		})
	}
}
