package bridge_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/internal/bridge"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/store"
)

const simLocation = "SimLocation000000001"

type oauthFixture struct {
	*fixture
	sim    *ghlsim.Server
	simURL string
	life   *lifecycle
}

func newOAuthFixture(t *testing.T) *oauthFixture {
	t.Helper()
	app := &ghl.OAuthApp{ClientID: "sim-client-id", ClientSecret: "sim-client-secret"}
	life := &lifecycle{}
	f := newFixture(t, func(c *bridge.Config) { c.OAuth = app; c.Schedules = life; c.AppID = "" }) // app id from the client id
	sim := ghlsim.New(ghlsim.Options{DefaultLocationID: simLocation, Webhooks: ghlsim.WebhookOptions{URL: f.srv.URL + "/webhooks/ghl", Key: testKey()}})
	t.Cleanup(sim.Close)
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(simSrv.Close)
	// The bridge reads the app on every request, so its URLs can be completed now that both
	// servers listen.
	app.RedirectURL = f.srv.URL + "/oauth/callback"
	app.AuthURL = simSrv.URL + "/oauth/chooselocation"
	app.TokenURL = simSrv.URL + "/oauth/token"
	return &oauthFixture{fixture: f, sim: sim, simURL: simSrv.URL, life: life}
}

// browser is an HTTP client with cookies that does not follow redirects, so each hop can be
// checked.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// install runs the whole browser flow and returns the final page.
func (f *oauthFixture) install(t *testing.T) (*http.Response, string) {
	t.Helper()
	c := browser(t)
	resp, _ := get(t, c, f.srv.URL+"/oauth/start")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("/oauth/start: status %d", resp.StatusCode)
	}
	resp, _ = get(t, c, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("choose-location: status %d", resp.StatusCode)
	}
	return get(t, c, resp.Header.Get("Location"))
}

func TestOAuthInstall(t *testing.T) {
	f := newOAuthFixture(t)
	ctx := context.Background()
	c := browser(t)

	resp, _ := get(t, c, f.srv.URL+"/oauth/start")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("/oauth/start: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if !strings.HasPrefix(loc.String(), f.simURL+"/oauth/chooselocation?") || q.Get("client_id") != "sim-client-id" ||
		q.Get("response_type") != "code" || q.Get("redirect_uri") != f.srv.URL+"/oauth/callback" {
		t.Errorf("redirect %s: want the choose-location page with client id, code flow and our callback", loc)
	}
	if got := q.Get("scope"); got != "contacts.readonly contacts.write locations/customFields.readonly locations/tasks.readonly" {
		t.Errorf("scope %q", got)
	}
	var state *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "hlrz_oauth_state" {
			state = ck
		}
	}
	if state == nil || state.Value == "" || state.Value != q.Get("state") || !state.HttpOnly || state.SameSite != http.SameSiteLaxMode {
		t.Fatalf("state cookie %+v, query state %q: want an HttpOnly SameSite=Lax cookie equal to the state", state, q.Get("state"))
	}

	resp, _ = get(t, c, loc.String())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("choose-location: status %d", resp.StatusCode)
	}
	callback := resp.Header.Get("Location")
	resp, page := get(t, c, callback)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: status %d: %s", resp.StatusCode, page)
	}
	connID := bridge.ConnectionIDFor(simLocation)
	if !strings.Contains(page, "HighLevel connected") || !strings.Contains(page, connID) || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("confirmation page does not name connection %s:\n%s", connID, page)
	}
	conn, err := f.store.ConnectionByLocation(ctx, simLocation)
	// The install brings HighLevel only: the connection waits for its Referrizer token,
	// and the page says how to add it.
	if err != nil || conn.ID != connID || conn.Status != store.ConnPending {
		t.Fatalf("connection %+v (%v), want pending %s", conn, err, connID)
	}
	if !strings.Contains(page, "starter connect -c "+connID+" --rz-token -") {
		t.Errorf("confirmation page does not say how to add the Referrizer token:\n%s", page)
	}
	tok, err := f.store.GetToken(ctx, connID, store.TokenGHL)
	if err != nil {
		t.Fatalf("token not stored: %v", err)
	}
	if !strings.HasPrefix(tok.AccessToken, "sim-at-") || !strings.HasPrefix(tok.RefreshToken, "sim-rt-") || tok.Mode != store.AuthOAuth || tok.Expiry.IsZero() {
		t.Errorf("stored token %v: want the simulator's OAuth pair with an expiry", tok)
	}
	if strings.Contains(page, tok.AccessToken) || strings.Contains(page, tok.RefreshToken) || strings.Contains(f.logs.String(), tok.AccessToken) {
		t.Errorf("a token leaked into the page or the logs")
	}
	var raw string
	if err := f.store.Pool().QueryRow(ctx, `SELECT string_agg(t::text, ' ') FROM tokens t`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, tok.AccessToken) || strings.Contains(raw, tok.RefreshToken) {
		t.Errorf("tokens are stored in clear text")
	}
	// The state is single-use: replaying the callback fails without another exchange.
	before := f.sim.Stats().TokenRequests["authorization_code"]
	if resp, _ := get(t, c, callback); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("replayed callback: status %d, want 400", resp.StatusCode)
	}
	if f.sim.Stats().TokenRequests["authorization_code"] != before {
		t.Errorf("a replayed callback reached the token endpoint")
	}

	// The simulator's INSTALL webhook finds the connection the callback made.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.sim.WaitDelivered(wctx); err != nil {
		t.Fatal(err)
	}
	f.drain()
	if n := f.inboxCounts()[store.InboxSignalled]; n != 1 {
		t.Errorf("INSTALL webhook: %d rows handled, want 1 (%v)", n, f.inboxCounts())
	}
	if conns, _ := f.store.ListConnections(ctx); len(conns) != 2 {
		t.Errorf("%d connections, want the fixture's and the installed one", len(conns))
	}
}

func TestOAuthReinstallAfterUninstall(t *testing.T) {
	f := newOAuthFixture(t)
	ctx := context.Background()
	if resp, page := f.install(t); resp.StatusCode != http.StatusOK {
		t.Fatalf("install: %d %s", resp.StatusCode, page)
	}
	connID := bridge.ConnectionIDFor(simLocation)
	first, err := f.store.GetToken(ctx, connID, store.TokenGHL)
	if err != nil {
		t.Fatal(err)
	}
	// What `starter connect -c … --rz-token` does.
	if _, err := f.store.PutToken(ctx, store.Token{ConnectionID: connID, Kind: store.TokenReferrizer, Mode: store.AuthPrivate, AccessToken: "rz"}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetConnectionStatus(ctx, connID, store.ConnActive, ""); err != nil {
		t.Fatal(err)
	}
	f.sim.Uninstall(simLocation)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.sim.WaitDelivered(wctx); err != nil {
		t.Fatal(err)
	}
	f.drain()
	if conn, _ := f.store.GetConnection(ctx, connID); conn.Status != store.ConnPaused {
		t.Fatalf("after UNINSTALL: status %s, want paused", conn.Status)
	}

	if resp, page := f.install(t); resp.StatusCode != http.StatusOK || strings.Contains(page, "(new)") {
		t.Fatalf("re-install: %d %s", resp.StatusCode, page)
	}
	conn, err := f.store.GetConnection(ctx, connID)
	if err != nil || conn.Status != store.ConnActive {
		t.Errorf("after re-install: %+v (%v), want active", conn, err)
	}
	f.life.mu.Lock()
	resumed := append([]string(nil), f.life.resumed...)
	f.life.mu.Unlock()
	if len(resumed) != 1 || resumed[0] != connID {
		t.Errorf("resumed schedules %v, want [%s]", resumed, connID)
	}
	second, err := f.store.GetToken(ctx, connID, store.TokenGHL)
	if err != nil || second.AccessToken == first.AccessToken || second.Version <= first.Version {
		t.Errorf("re-install did not replace the token")
	}
}

func TestOAuthCallbackRejects(t *testing.T) {
	f := newOAuthFixture(t)
	exchanges := func() int64 { return f.sim.Stats().TokenRequests["authorization_code"] }

	t.Run("state mismatch", func(t *testing.T) {
		c := browser(t)
		get(t, c, f.srv.URL+"/oauth/start")
		before := exchanges()
		resp, page := get(t, c, f.srv.URL+"/oauth/callback?code=abc&state=forged")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "installation failed") {
			t.Errorf("status %d, page %q", resp.StatusCode, page)
		}
		if exchanges() != before {
			t.Errorf("a forged state reached the token endpoint")
		}
	})
	t.Run("no state cookie", func(t *testing.T) {
		resp, _ := get(t, browser(t), f.srv.URL+"/oauth/callback?code=abc&state=abc")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
	})
	t.Run("access denied", func(t *testing.T) {
		resp, page := get(t, browser(t), f.srv.URL+"/oauth/callback?error=access_denied&state=x")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "access_denied") {
			t.Errorf("status %d, page %q", resp.StatusCode, page)
		}
	})
	t.Run("error text is escaped", func(t *testing.T) {
		_, page := get(t, browser(t), f.srv.URL+"/oauth/callback?error="+url.QueryEscape("<script>x</script>"))
		if strings.Contains(page, "<script>") {
			t.Errorf("page echoes markup unescaped: %s", page)
		}
	})
	t.Run("code refused", func(t *testing.T) {
		c := browser(t)
		resp, _ := get(t, c, f.srv.URL+"/oauth/start")
		state, _ := url.Parse(resp.Header.Get("Location"))
		resp, page := get(t, c, f.srv.URL+"/oauth/callback?code=bogus&state="+url.QueryEscape(state.Query().Get("state")))
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(page, "did not accept") || strings.Contains(page, "invalid_grant") {
			t.Errorf("status %d, page %q: want 502 with a plain message", resp.StatusCode, page)
		}
		if _, err := f.store.ConnectionByLocation(context.Background(), simLocation); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused code created a connection: %v", err)
		}
	})
}

func TestOAuthNotConfigured(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{"/oauth/start", "/oauth/callback?code=a&state=b"} {
		if resp, _ := get(t, browser(t), f.srv.URL+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
		}
	}
}

type health struct{ err error }

func (h health) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return &client.CheckHealthResponse{}, h.err
}

func TestHealthAndReadiness(t *testing.T) {
	ok := newFixture(t, func(c *bridge.Config) { c.Health = health{} })
	down := newFixture(t, func(c *bridge.Config) { c.Health = health{errors.New("dial tcp: connection refused")} })
	for _, tc := range []struct {
		f    *fixture
		path string
		want int
		body string
	}{
		{ok, "/healthz", 200, "ok"},
		{ok, "/readyz", 200, "ready"},
		{down, "/healthz", 200, "ok"},
		{down, "/readyz", 503, "temporal: unavailable"},
		{ok, "/metrics", 200, "hlrz_inbox_depth"},
	} {
		resp, body := get(t, http.DefaultClient, tc.f.intl.URL+tc.path)
		if resp.StatusCode != tc.want || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.path, resp.StatusCode, body, tc.want, tc.body)
		}
		if strings.Contains(body, "connection refused") {
			t.Errorf("%s leaks error details: %q", tc.path, body)
		}
	}
	ok.store.Close()
	if resp, body := get(t, http.DefaultClient, ok.intl.URL+"/readyz"); resp.StatusCode != 503 || !strings.Contains(body, "store: unavailable") {
		t.Errorf("/readyz with the store closed: %d %q", resp.StatusCode, body)
	}
}

// An install started in HighLevel's marketplace reaches the callback with a code and no
// state of ours (ghl-facts.md §3). It is accepted; only the code is taken from the browser.
func TestOAuthMarketplaceInstall(t *testing.T) {
	f := newOAuthFixture(t)
	ctx := context.Background()
	exchanges := func() int64 { return f.sim.Stats().TokenRequests["authorization_code"] }

	// HighLevel, not /oauth/start, sends the admin to the choose-location page: no state,
	// no cookie.
	c := browser(t)
	resp, _ := get(t, c, f.simURL+"/oauth/chooselocation?response_type=code&client_id=sim-client-id&redirect_uri="+url.QueryEscape(f.srv.URL+"/oauth/callback"))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("choose-location: status %d", resp.StatusCode)
	}
	callback, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if callback.Query().Has("state") || callback.Query().Get("code") == "" {
		t.Fatalf("callback URL %s: want a code and no state", callback)
	}
	// Parameters the browser adds are not trusted: the token response names the location.
	q := callback.Query()
	q.Set("locationId", "VictimLocation000001")
	q.Set("companyId", "VictimCompany")
	q.Set("state", "") // an empty state is no state
	callback.RawQuery = q.Encode()
	before := exchanges()
	resp, page := get(t, c, callback.String())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("marketplace callback: status %d: %s", resp.StatusCode, page)
	}
	if exchanges() != before+1 {
		t.Errorf("%d code exchanges, want 1", exchanges()-before)
	}
	conn, err := f.store.ConnectionByLocation(ctx, simLocation)
	if err != nil || conn.Status != store.ConnPending || conn.GHLCompanyID != "simCompany000000000a" {
		t.Fatalf("connection of the granted location: %+v (%v), want pending with the granted company", conn, err)
	}
	if _, err := f.store.ConnectionByLocation(ctx, "VictimLocation000001"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a location from the query string was connected: %v", err)
	}
	if tok, err := f.store.GetToken(ctx, conn.ID, store.TokenGHL); err != nil || tok.Mode != store.AuthOAuth {
		t.Errorf("token of the marketplace install: %v (%v)", tok, err)
	}
	if !strings.Contains(f.logs.String(), "origin=marketplace") {
		t.Errorf("the log does not say the install came from the marketplace")
	}

	// The code is single-use: replaying the marketplace callback connects nothing more.
	resp, page = get(t, browser(t), callback.String())
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(page, "did not accept") {
		t.Errorf("replayed marketplace code: status %d, want 502", resp.StatusCode)
	}
	// A made-up code without state reaches the token endpoint, which refuses it.
	resp, _ = get(t, browser(t), f.srv.URL+"/oauth/callback?code=made-up")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("made-up code: status %d, want 502", resp.StatusCode)
	}
	if conns, _ := f.store.ListConnections(ctx); len(conns) != 2 {
		t.Errorf("%d connections, want the fixture's and the installed one", len(conns))
	}
}

// A re-install of a paused connection that never got its Referrizer token leaves it pending:
// the new HighLevel token alone does not make it sync.
func TestOAuthReinstallWithoutReferrizerStaysPending(t *testing.T) {
	f := newOAuthFixture(t)
	ctx := context.Background()
	if resp, page := f.install(t); resp.StatusCode != http.StatusOK {
		t.Fatalf("install: %d %s", resp.StatusCode, page)
	}
	connID := bridge.ConnectionIDFor(simLocation)
	if err := f.store.SetConnectionStatus(ctx, connID, store.ConnPaused, "app uninstalled in HighLevel"); err != nil {
		t.Fatal(err)
	}
	if resp, page := f.install(t); resp.StatusCode != http.StatusOK {
		t.Fatalf("re-install: %d %s", resp.StatusCode, page)
	}
	conn, err := f.store.GetConnection(ctx, connID)
	if err != nil || conn.Status != store.ConnPending {
		t.Errorf("after re-install without Referrizer token: %+v (%v), want pending", conn, err)
	}
	f.life.mu.Lock()
	defer f.life.mu.Unlock()
	if len(f.life.resumed) != 0 {
		t.Errorf("schedules of a pending connection resumed: %v", f.life.resumed)
	}
}

// An agency installs the app on several locations at once from HighLevel's marketplace: the
// callback gets a Company token, stores it, and connects each approved location (pending)
// with a Location token obtained from it; the bulk INSTALL event finds them; a later INSTALL
// of a location without a token gets its Location token from the stored Company token.
func TestOAuthAgencyBulkInstall(t *testing.T) {
	f := newOAuthFixture(t)
	ctx := context.Background()
	const loc1, loc2, loc3 = "AgencyLocation000001", "AgencyLocation000002", "AgencyLocation000003"

	c := browser(t)
	resp, _ := get(t, c, f.simURL+"/oauth/chooselocation?response_type=code&client_id=sim-client-id&userType=Company&locationIds="+loc1+","+loc2+
		"&redirect_uri="+url.QueryEscape(f.srv.URL+"/oauth/callback"))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("choose-location: status %d", resp.StatusCode)
	}
	resp, page := get(t, c, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: status %d: %s", resp.StatusCode, page)
	}
	company, err := f.store.GetCompanyToken(ctx, "simCompany000000000a")
	if err != nil || company.Mode != store.AuthOAuth || company.RefreshToken == "" {
		t.Fatalf("company token: %v (%v)", company, err)
	}
	for _, loc := range []string{loc1, loc2} {
		conn, err := f.store.ConnectionByLocation(ctx, loc)
		if err != nil || conn.Status != store.ConnPending || conn.GHLCompanyID != "simCompany000000000a" {
			t.Fatalf("connection of %s: %+v (%v), want pending", loc, conn, err)
		}
		if !strings.Contains(page, conn.ID) {
			t.Errorf("page does not name connection %s:\n%s", conn.ID, page)
		}
		tok, err := f.store.GetToken(ctx, conn.ID, store.TokenGHL)
		if err != nil || tok.Mode != store.AuthCompany || tok.RefreshToken != "" || tok.Expiry.IsZero() {
			t.Errorf("token of %s: %v (%v), want a Location token from the company token", conn.ID, tok, err)
		}
		if strings.Contains(page, tok.AccessToken) || strings.Contains(f.logs.String(), tok.AccessToken) {
			t.Errorf("a token leaked")
		}
	}
	if n := f.sim.Stats().TokenRequests["locationToken"]; n != 2 {
		t.Errorf("%d Location token requests, want 2", n)
	}

	// HighLevel's bulk INSTALL event: the connections exist and hold tokens, nothing more.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.sim.WaitDelivered(wctx); err != nil {
		t.Fatal(err)
	}
	f.drain()
	if n := f.inboxCounts()[store.InboxSignalled]; n != 1 {
		t.Errorf("bulk INSTALL: %d rows handled, want 1 (%v)", n, f.inboxCounts())
	}
	if conns, _ := f.store.ListConnections(ctx); len(conns) != 3 {
		t.Errorf("%d connections, want the fixture's and two installed", len(conns))
	}
	if n := f.sim.Stats().TokenRequests["locationToken"]; n != 2 {
		t.Errorf("%d Location token requests after the event, want still 2", n)
	}

	// A location whose connection has no token (say its callback failed) gets one from the
	// company token when an INSTALL names it; one the agency did not approve is refused and
	// noted, its connection left pending without a token.
	conn2, _ := f.store.ConnectionByLocation(ctx, loc2)
	if _, err := f.store.Pool().Exec(ctx, `DELETE FROM tokens WHERE connection_id = $1`, conn2.ID); err != nil {
		t.Fatal(err)
	}
	ev := payload("INSTALL", "", map[string]any{"appId": "sim", "companyId": "simCompany000000000a", "locationIds": []string{loc2, loc3}, "locationId": nil})
	f.mustPost(ev, http.StatusOK)
	f.drain()
	row := f.inboxByKey(webhookID(t, ev))
	if row.State != store.InboxSignalled || !strings.Contains(row.Note, "refused for ["+loc3+"]") {
		t.Errorf("bulk INSTALL row: %s %q", row.State, row.Note)
	}
	if tok, err := f.store.GetToken(ctx, conn2.ID, store.TokenGHL); err != nil || tok.Mode != store.AuthCompany {
		t.Errorf("token of %s after the event: %v (%v)", conn2.ID, tok, err)
	}
	conn3, err := f.store.ConnectionByLocation(ctx, loc3)
	if err != nil || conn3.Status != store.ConnPending {
		t.Fatalf("connection of %s: %+v (%v)", loc3, conn3, err)
	}
	if _, err := f.store.GetToken(ctx, conn3.ID, store.TokenGHL); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused location got a token: %v", err)
	}
}

// The bulk INSTALL event usually arrives before the browser reaches the callback: the relay
// creates the connections (pending, no token: no Company token yet), and the callback then
// gives each its Location token.
func TestOAuthAgencyInstallEventFirst(t *testing.T) {
	f := newOAuthFixture(t)
	ctx := context.Background()
	const loc1, loc2 = "AgencyLocation00000a", "AgencyLocation00000b"
	c := browser(t)
	resp, _ := get(t, c, f.simURL+"/oauth/chooselocation?response_type=code&client_id=sim-client-id&userType=Company&locationIds="+loc1+","+loc2+
		"&redirect_uri="+url.QueryEscape(f.srv.URL+"/oauth/callback"))
	callback := resp.Header.Get("Location")
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.sim.WaitDelivered(wctx); err != nil {
		t.Fatal(err)
	}
	f.drain()
	for _, loc := range []string{loc1, loc2} {
		conn, err := f.store.ConnectionByLocation(ctx, loc)
		if err != nil || conn.Status != store.ConnPending {
			t.Fatalf("connection of %s after the event: %+v (%v)", loc, conn, err)
		}
		if _, err := f.store.GetToken(ctx, conn.ID, store.TokenGHL); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token before any Company token exists: %v", err)
		}
	}
	if n := f.inboxCounts()[store.InboxSignalled]; n != 1 {
		t.Errorf("bulk INSTALL: %v", f.inboxCounts())
	}
	resp, page := get(t, c, callback)
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "(new)") {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
	for _, loc := range []string{loc1, loc2} {
		conn, _ := f.store.ConnectionByLocation(ctx, loc)
		tok, err := f.store.GetToken(ctx, conn.ID, store.TokenGHL)
		if err != nil || tok.Mode != store.AuthCompany || conn.Status != store.ConnPending {
			t.Errorf("%s after the callback: status %s, token %v (%v)", conn.ID, conn.Status, tok, err)
		}
	}
}
