package ghl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/store"
)

func TestAuthCodeURL(t *testing.T) {
	app := &ghl.OAuthApp{ClientID: "cid", RedirectURL: "https://hlrz.example/cb", Scopes: []string{"contacts.readonly", "contacts.write"}}
	u, err := url.Parse(app.AuthCodeURL("st"))
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != "https://marketplace.gohighlevel.com/v2/oauth/chooselocation" {
		t.Errorf("auth URL = %s", got)
	}
	want := url.Values{"response_type": {"code"}, "client_id": {"cid"}, "redirect_uri": {"https://hlrz.example/cb"},
		"scope": {"contacts.readonly contacts.write"}, "state": {"st"}}
	if got := u.Query(); got.Encode() != want.Encode() {
		t.Errorf("query = %v, want %v", got, want)
	}
}

// formCapture records the forms posted to the token endpoint (the simulator does not echo
// them back).
type formCapture struct {
	base  http.RoundTripper
	mu    sync.Mutex
	forms []url.Values
}

func (f *formCapture) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/oauth/token") && r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		v, _ := url.ParseQuery(string(b))
		f.mu.Lock()
		f.forms = append(f.forms, v)
		f.mu.Unlock()
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return f.base.RoundTrip(r)
}

func TestExchangeAndRefreshForms(t *testing.T) {
	e := newEnv(t, ghlsim.Options{})
	app := e.app()
	capture := &formCapture{base: e.rec}
	app.HTTPClient = &http.Client{Transport: capture}
	g := e.install(t, app)
	if g.LocationID != loc || g.UserType != "Location" || g.AccessToken == "" || g.RefreshToken == "" || time.Until(g.Expiry) < 23*time.Hour {
		t.Fatalf("grant = %v", g)
	}
	if s := fmt.Sprintf("%v %+v %#v", g, g, g); strings.Contains(s, g.AccessToken) || strings.Contains(s, g.RefreshToken) {
		t.Errorf("formatting a grant prints its tokens: %s", s)
	}
	g2, err := app.Refresh(ctxT(t), g.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if g2.RefreshToken == g.RefreshToken || g2.AccessToken == g.AccessToken {
		t.Error("refresh did not rotate the pair")
	}
	// The old refresh token is dead: invalid_grant, typed, without echoing the token.
	_, err = app.Refresh(ctxT(t), g.RefreshToken)
	var oe *ghl.OAuthError
	if !errors.As(err, &oe) || !oe.InvalidGrant() || oe.Retryable() || strings.Contains(err.Error(), g.RefreshToken) {
		t.Fatalf("reused refresh token: %v", err)
	}

	if len(capture.forms) != 3 {
		t.Fatalf("captured %d token requests, want 3", len(capture.forms))
	}
	code, refresh := capture.forms[0], capture.forms[1]
	for k, v := range map[string]string{"grant_type": "authorization_code", "client_id": "sim-client-id", "client_secret": "sim-client-secret",
		"user_type": "Location", "redirect_uri": app.RedirectURL} {
		if code.Get(k) != v {
			t.Errorf("code exchange %s = %q, want %q", k, code.Get(k), v)
		}
	}
	for k, v := range map[string]string{"grant_type": "refresh_token", "client_id": "sim-client-id", "client_secret": "sim-client-secret",
		"user_type": "Location", "refresh_token": g.RefreshToken} {
		if refresh.Get(k) != v {
			t.Errorf("refresh %s = %q, want %q", k, refresh.Get(k), v)
		}
	}
	e.assertContract(t)
}

// updateSpy counts UpdateToken calls on a real store.
type updateSpy struct {
	store.Store
	updates atomic.Int64
}

func (s *updateSpy) UpdateToken(ctx context.Context, id string, kind store.TokenKind, fn func(store.Token) (store.Token, error)) (store.Token, error) {
	s.updates.Add(1)
	return s.Store.UpdateToken(ctx, id, kind, fn)
}

// storedOAuth stores g for connection conn, expired so the next use refreshes.
func storedOAuth(t *testing.T, st store.Store, conn string, g ghl.Grant, expiry time.Time) store.Token {
	t.Helper()
	tok := g.StoreToken(conn)
	tok.Expiry = expiry
	out, err := st.PutToken(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRefreshSingleFlightAcrossProcesses: two clients with their own token source and their
// own store handle on one SQLite file (two processes, in effect) find the token expired at
// the same moment. Exactly one refresh reaches HighLevel, both get the new token, and the
// rotated pair is what the store holds.
func TestRefreshSingleFlightAcrossProcesses(t *testing.T) {
	e := newEnv(t, ghlsim.Options{})
	ctx := ctxT(t)
	app := e.app()
	g := e.install(t, app)
	contact := seedContact(t, e.sim, "seed@example.com")

	path, kr := newStorePath(t), secrets.NewRandom()
	st1, st2 := openStore(t, path, kr), openStore(t, path, kr)
	putConnection(t, st1, "conn-1")
	before := storedOAuth(t, st1, "conn-1", g, time.Now().Add(-time.Minute))

	var sources []*ghl.StoredToken
	var clients []*ghl.Client
	var spies []*updateSpy
	for _, st := range []store.Store{st1, st2} {
		spy := &updateSpy{Store: st}
		spies = append(spies, spy)
		src, err := ghl.NewStoredToken(ghl.StoredTokenConfig{App: app, Tokens: spy, Connections: st, ConnectionID: "conn-1"})
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, src)
		clients = append(clients, e.client(t, src, ghl.NewBudgets(ghl.BudgetConfig{})))
	}
	e.sim.ResetStats()
	// A slow token endpoint keeps the first refresher inside the row lock while the second
	// arrives, so the second must notice the refresh instead of racing past it.
	e.sim.SetFaults(ghlsim.Faults{TokenLatency: 300 * time.Millisecond})

	start := make(chan struct{})
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			<-start
			_, errs[i] = c.GetContact(ctx, contact.ID)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}

	if n := e.sim.Stats().TokenRequests["refresh_token"]; n != 1 {
		t.Errorf("refresh requests reaching HighLevel = %d, want 1", n)
	}
	if n := sources[0].Refreshes() + sources[1].Refreshes(); n != 1 {
		t.Errorf("token sources refreshed %d times, want 1", n)
	}
	if a, b := spies[0].updates.Load(), spies[1].updates.Load(); a != 1 || b != 1 {
		t.Errorf("UpdateToken calls = %d and %d; want both processes to take the lock once", a, b)
	}
	after, err := st2.GetToken(ctx, "conn-1", store.TokenGHL)
	if err != nil {
		t.Fatal(err)
	}
	if after.RefreshToken == before.RefreshToken || after.AccessToken == before.AccessToken || after.Version <= before.Version {
		t.Error("store does not hold a rotated pair")
	}
	if time.Until(after.Expiry) < 23*time.Hour {
		t.Errorf("new expiry %s is not about a day away", after.Expiry)
	}
	for i, src := range sources {
		tok, err := src.AccessToken(ctx)
		if err != nil || tok != after.AccessToken {
			t.Errorf("source %d holds a different token than the store (err %v)", i, err)
		}
	}
	// The refresh token both started from is dead now.
	if _, err := app.Refresh(ctx, before.RefreshToken); err == nil {
		t.Error("the rotated-out refresh token still works")
	}
	e.assertContract(t)
}

// TestRefreshSingleFlightInProcess: many callers of one token source share one refresh.
func TestRefreshSingleFlightInProcess(t *testing.T) {
	e := newEnv(t, ghlsim.Options{})
	ctx := ctxT(t)
	app := e.app()
	g := e.install(t, app)
	st := openStore(t, newStorePath(t), secrets.NewRandom())
	putConnection(t, st, "conn-1")
	storedOAuth(t, st, "conn-1", g, time.Now().Add(time.Minute)) // inside the refresh-before margin
	src, err := ghl.NewStoredToken(ghl.StoredTokenConfig{App: app, Tokens: st, Connections: st, ConnectionID: "conn-1"})
	if err != nil {
		t.Fatal(err)
	}
	e.sim.ResetStats()

	tokens := make([]string, 20)
	errs := make([]error, 20)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() { tokens[i], errs[i] = src.AccessToken(ctx) })
	}
	wg.Wait()
	for i := range tokens {
		if errs[i] != nil || tokens[i] == "" || tokens[i] != tokens[0] {
			t.Fatalf("caller %d: token differs or failed: %v", i, errs[i])
		}
	}
	if tokens[0] == g.AccessToken {
		t.Error("token was not refreshed although it expires within the margin")
	}
	if n := e.sim.Stats().TokenRequests["refresh_token"]; n != 1 || src.Refreshes() != 1 {
		t.Errorf("refreshes = %d at HighLevel, %d by the source; want 1", n, src.Refreshes())
	}
}

// TestUnauthorizedTriggersRefresh: HighLevel rejects a token the store believes valid (401);
// the client refreshes once and retries.
func TestUnauthorizedTriggersRefresh(t *testing.T) {
	e := newEnv(t, ghlsim.Options{})
	ctx := ctxT(t)
	app := e.app()
	g := e.install(t, app)
	contact := seedContact(t, e.sim, "seed@example.com")
	st := openStore(t, newStorePath(t), secrets.NewRandom())
	putConnection(t, st, "conn-1")
	storedOAuth(t, st, "conn-1", g, time.Now().Add(12*time.Hour))
	src, err := ghl.NewStoredToken(ghl.StoredTokenConfig{App: app, Tokens: st, Connections: st, ConnectionID: "conn-1"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(t, src, nil)
	e.sim.ExpireAccessTokens(loc)

	if _, err := c.GetContact(ctx, contact.ID); err != nil {
		t.Fatalf("get after server-side expiry: %v", err)
	}
	if c.Calls() != 2 || src.Refreshes() != 1 {
		t.Errorf("calls = %d, refreshes = %d; want 2 and 1", c.Calls(), src.Refreshes())
	}
	if st := e.sim.Stats().Statuses; st["401"] != 1 || st["200"] != 1 {
		t.Errorf("statuses = %v", st)
	}
}

// TestInvalidGrantNeedsReconnect: a rejected refresh token marks the connection
// reconnect-required and fails fast with a typed, non-retryable error that names no token.
func TestInvalidGrantNeedsReconnect(t *testing.T) {
	e := newEnv(t, ghlsim.Options{})
	ctx := ctxT(t)
	app := e.app()
	g := e.install(t, app)
	contact := seedContact(t, e.sim, "seed@example.com")
	st := openStore(t, newStorePath(t), secrets.NewRandom())
	putConnection(t, st, "conn-1")
	dead := g
	dead.RefreshToken = "sim-rt-revoked-0000000000"
	storedOAuth(t, st, "conn-1", dead, time.Now().Add(-time.Hour))
	src, err := ghl.NewStoredToken(ghl.StoredTokenConfig{App: app, Tokens: st, Connections: st, ConnectionID: "conn-1"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(t, src, nil)
	e.sim.ResetStats()

	for range 3 {
		_, err := c.GetContact(ctx, contact.ID)
		if !errors.Is(err, ghl.ErrReconnectRequired) || ghl.Retryable(err) {
			t.Fatalf("err = %v, want ErrReconnectRequired", err)
		}
		if s := err.Error(); strings.Contains(s, dead.RefreshToken) || strings.Contains(s, dead.AccessToken) {
			t.Fatalf("error leaks a token: %s", s)
		}
	}
	if n := e.sim.Stats().TokenRequests["refresh_token"]; n != 1 {
		t.Errorf("refresh attempts = %d, want 1 (no retrying a dead token)", n)
	}
	if c.Calls() != 0 {
		t.Errorf("API calls = %d, want 0", c.Calls())
	}
	conn, err := st.GetConnection(ctx, "conn-1")
	if err != nil {
		t.Fatal(err)
	}
	if conn.Status != store.ConnReconnectRequired || !strings.Contains(conn.StatusReason, "invalid_grant") {
		t.Errorf("connection status = %s (%q)", conn.Status, conn.StatusReason)
	}

	// A new install stores a new token; the same source recovers without a restart.
	g2 := e.install(t, app)
	storedOAuth(t, st, "conn-1", g2, g2.Expiry)
	if _, err := c.GetContact(ctx, contact.ID); err != nil {
		t.Fatalf("after reconnect: %v", err)
	}
}

// TestPrivateTokenFromStore: a Private Integration token in the store is used as is.
func TestPrivateTokenFromStore(t *testing.T) {
	e := newEnv(t, ghlsim.Options{})
	ctx := ctxT(t)
	contact := seedContact(t, e.sim, "seed@example.com")
	st := openStore(t, newStorePath(t), secrets.NewRandom())
	putConnection(t, st, "conn-1")
	if _, err := st.PutToken(ctx, store.Token{ConnectionID: "conn-1", Kind: store.TokenGHL, Mode: store.AuthPrivate, AccessToken: pit}); err != nil {
		t.Fatal(err)
	}
	src, err := ghl.NewStoredToken(ghl.StoredTokenConfig{Tokens: st, Connections: st, ConnectionID: "conn-1"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(t, src, nil)
	if _, err := c.GetContact(ctx, contact.ID); err != nil {
		t.Fatal(err)
	}
	// A revoked private token fails as unauthorized, once, without any refresh attempt.
	bad := e.client(t, ghl.StaticToken("pit-revoked"), nil)
	if _, err := bad.GetContact(ctx, contact.ID); !errors.Is(err, ghl.ErrUnauthorized) || bad.Calls() != 1 {
		t.Fatalf("revoked static token: %v after %d calls", err, bad.Calls())
	}
	if fmt.Sprintf("%v %#v", ghl.StaticToken(pit), ghl.StaticToken(pit)) == "" || strings.Contains(fmt.Sprintf("%v %#v", ghl.StaticToken(pit), ghl.StaticToken(pit)), pit) {
		t.Error("formatting a static token prints it")
	}
	if src.Refreshes() != 0 || e.sim.Stats().TokenRequests["refresh_token"] != 0 {
		t.Error("a private token was refreshed")
	}
}

func TestNoStoredTokenNeedsReconnect(t *testing.T) {
	st := openStore(t, newStorePath(t), secrets.NewRandom())
	putConnection(t, st, "conn-1")
	src, err := ghl.NewStoredToken(ghl.StoredTokenConfig{Tokens: st, Connections: st, ConnectionID: "conn-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.AccessToken(ctxT(t)); !errors.Is(err, ghl.ErrReconnectRequired) || !errors.Is(err, store.ErrNotFound) || ghl.Retryable(err) {
		t.Fatalf("err = %v", err)
	}
}
