package ghl_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/ghl/ghlspec"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/sqlite"
)

const (
	loc = "locSim00000000000001"
	pit = "pit-test-token-0001"
)

// env is a simulator behind a real HTTP server, and a spec-validating transport.
type env struct {
	sim *ghlsim.Server
	srv *httptest.Server
	rec *ghlspec.Recorder
}

func newEnv(t *testing.T, opts ghlsim.Options) *env {
	t.Helper()
	spec, err := ghlspec.Load()
	if err != nil {
		t.Fatalf("load HighLevel's specs: %v", err)
	}
	if opts.PrivateTokens == nil {
		opts.PrivateTokens = map[string]string{pit: loc}
	}
	if opts.DefaultLocationID == "" {
		opts.DefaultLocationID = loc
	}
	sim := ghlsim.New(opts)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	return &env{sim: sim, srv: srv, rec: &ghlspec.Recorder{Spec: spec}}
}

// httpClient validates every exchange against the specs.
func (e *env) httpClient() *http.Client {
	return &http.Client{Transport: e.rec, Timeout: 30 * time.Second}
}

func (e *env) client(t *testing.T, auth ghl.TokenSource, budgets *ghl.Budgets) *ghl.Client {
	t.Helper()
	c, err := ghl.New(ghl.Options{BaseURL: e.srv.URL, LocationID: loc, Auth: auth, HTTPClient: e.httpClient(), Budgets: budgets})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// assertContract fails the test for every exchange that broke HighLevel's specs.
func (e *env) assertContract(t *testing.T) {
	t.Helper()
	for _, f := range e.rec.Failures() {
		t.Errorf("contract: %s", f)
	}
}

func (e *env) app() *ghl.OAuthApp {
	return &ghl.OAuthApp{
		ClientID: "sim-client-id", ClientSecret: "sim-client-secret",
		RedirectURL: "https://hlrz.example/oauth/callback", Scopes: []string{"contacts.readonly", "contacts.write"},
		AuthURL: e.srv.URL + "/oauth/chooselocation", TokenURL: e.srv.URL + "/oauth/token",
		HTTPClient: e.httpClient(),
	}
}

// install runs the choose-location redirect and the code exchange, as the install callback
// does.
func (e *env) install(t *testing.T, app *ghl.OAuthApp) ghl.Grant {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(app.AuthCodeURL("state-123"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("choose-location answered %d, want 302", resp.StatusCode)
	}
	back, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Query().Get("state"); got != "state-123" {
		t.Fatalf("state = %q, want state-123", got)
	}
	if !strings.HasPrefix(back.String(), app.RedirectURL+"?") {
		t.Fatalf("redirected to %s, want %s", back.Redacted(), app.RedirectURL)
	}
	g, err := app.Exchange(context.Background(), back.Query().Get("code"))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return g
}

// openStore opens the SQLite store at path (a second Open of the same path stands in for a
// second process).
func openStore(t *testing.T, path string, kr *secrets.Keyring) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path, kr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

func newStorePath(t *testing.T) string { return filepath.Join(t.TempDir(), "hlrz.db") }

func putConnection(t *testing.T, st store.Store, id string) {
	t.Helper()
	if _, err := st.PutConnection(context.Background(), store.Connection{ID: id, Name: "test", GHLLocationID: loc}); err != nil {
		t.Fatal(err)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func seedContact(t *testing.T, sim *ghlsim.Server, email string) ghlsim.Contact {
	t.Helper()
	c, err := sim.CreateContact(ghlsim.Contact{LocationID: loc, FirstName: "Seed", LastName: "Person", Email: email})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
