package setupapp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/setupapp"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/usercontext"
)

// fixture is the product with its setup page on, and a location installed but not set up:
// a pending connection with its HighLevel token only, and people on both sides.
type fixture struct {
	e       *e2e.Env
	base    string // the public listener
	secret  string // the app's Shared Secret
	loc     string
	connID  string
	rzToken string // the Referrizer token the business will enter
	seeded  app.SeedResult
}

// twinEmail is shared by two HighLevel contacts and one Referrizer contact: an ambiguous
// match the preview lists and the backfill holds.
const twinEmail = "twin.person@example.com"

func start(t *testing.T, people int) *fixture {
	t.Helper()
	f := &fixture{secret: "test-shared-secret-" + store.NewID()}
	f.e = e2e.Start(t, e2e.Options{GHL: ghlsim.Options{SharedSecret: f.secret}, Tune: func(o *app.Options) { o.Config.GHLSharedSecret = f.secret }})
	f.base = "http://" + f.e.App.HTTPAddr
	ctx := context.Background()
	f.loc, f.connID = "setupLoc"+store.NewID()[:8], "setup"+strings.ToLower(store.NewID()[:8])
	ghlToken := "ghl-token-" + f.loc
	f.e.GHL.AddPrivateToken(f.loc, ghlToken)
	if _, err := f.e.Store.PutConnection(ctx, store.Connection{
		ID: f.connID, Name: "gym", GHLLocationID: f.loc, Status: store.ConnPending, StatusReason: "waiting for the Referrizer token",
		Settings: store.Settings{DefaultRegion: "US", DebounceMillis: 200, RZRequestsPerSec: 1000},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Store.PutToken(ctx, store.Token{ConnectionID: f.connID, Kind: store.TokenGHL, Mode: store.AuthPrivate, AccessToken: ghlToken}); err != nil {
		t.Fatal(err)
	}
	f.rzToken = "rz-setup-" + store.NewID()
	f.e.RZ.AddAccount(f.rzToken)
	var err error
	if f.seeded, err = app.Seed(f.e.GHL, f.e.RZ, f.loc, f.rzToken, app.DemoPopulation(people)); err != nil {
		t.Fatal(err)
	}
	f.addTwins(t)
	return f
}

func (f *fixture) addTwins(t *testing.T) {
	t.Helper()
	wh := f.e.GHL.Webhooks()
	off := wh
	off.URL = ""
	f.e.GHL.SetWebhooks(off)
	defer f.e.GHL.SetWebhooks(wh)
	f.e.GHL.SetAllowDuplicates(f.loc, true)
	for _, first := range []string{"Twin", "Twain"} {
		if _, err := f.e.GHL.CreateContact(ghlsim.Contact{LocationID: f.loc, FirstName: first, LastName: "Person", Email: twinEmail}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.e.RZ.AdminCreateContact(f.rzToken, rzsim.Contact{FirstName: "Twin", LastName: "Person", Email: twinEmail}); err != nil {
		t.Fatal(err)
	}
}

// payload is the user context HighLevel would hand the page for a user viewing loc.
func (f *fixture) payload(t *testing.T, loc string) string {
	t.Helper()
	p, err := usercontext.Encrypt(usercontext.User{UserID: "u1", CompanyID: "co1", Role: "admin", Type: "account", ActiveLocation: loc, UserName: "Ann"}, f.secret)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// login trades a payload for the session cookie (sent by hand below: Go's cookie jar keeps
// Secure cookies off plain http, a browser on localhost does not).
func (f *fixture) login(t *testing.T, payload string) (*http.Cookie, int) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"payload": payload})
	resp, err := http.Post(f.base+"/app/session", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	for _, c := range resp.Cookies() {
		if c.Name == setupapp.CookieName {
			return c, resp.StatusCode
		}
	}
	return nil, resp.StatusCode
}

// call makes an API request with the cookie (nil: none) and decodes the JSON answer.
func (f *fixture) call(t *testing.T, c *http.Cookie, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, f.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HLRZ-App", "1")
	if c != nil {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil && resp.StatusCode < 300 {
			t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

func (f *fixture) api(loc string) string { return "/app/api/" + loc }

func (f *fixture) payloadWith(t *testing.T, loc, secret string) (string, error) {
	t.Helper()
	return usercontext.Encrypt(usercontext.User{UserID: "u1", ActiveLocation: loc}, secret)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
