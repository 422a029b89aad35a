package ghl_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/postgres"
	"github.com/hlrz/hlrz/internal/testutil/pgtest"
)

// stores opens a fresh store of each driver; open returns another handle on the same data
// (a second process).
var stores = []struct {
	name string
	open func(t *testing.T) (first store.Store, another func() store.Store)
}{
	{"sqlite", func(t *testing.T) (store.Store, func() store.Store) {
		path, kr := newStorePath(t), secrets.NewRandom()
		return openStore(t, path, kr), func() store.Store { return openStore(t, path, kr) }
	}},
	{"postgres", func(t *testing.T) (store.Store, func() store.Store) {
		dsn, kr := pgtest.NewDatabase(t), secrets.NewRandom()
		open := func() store.Store {
			st, err := postgres.Open(context.Background(), dsn, kr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.Close)
			return st
		}
		return open(), open
	}},
}

// TestRefreshRefusedInEveryShape: HighLevel refusing a refresh token with 400/401 is
// recognised in every documented body shape (ghl-facts.md §5): the connection is marked
// reconnect-required, the refusal is recorded on the token, and neither this process nor
// another calls the token endpoint for it again.
func TestRefreshRefusedInEveryShape(t *testing.T) {
	shapes := []struct {
		shape  string
		status int
	}{
		{"", http.StatusBadRequest}, // the simulator's default: HighLevel's shape with the RFC code
		{ghlsim.TokenErrorRFC6749, http.StatusBadRequest},
		{ghlsim.TokenErrorBadRequestDTO, http.StatusBadRequest},
		{ghlsim.TokenErrorUnauthorizedDTO, http.StatusUnauthorized},
	}
	for _, drv := range stores {
		for _, sh := range shapes {
			name := sh.shape
			if name == "" {
				name = "default"
			}
			t.Run(drv.name+"/"+name, func(t *testing.T) {
				e := newEnv(t, ghlsim.Options{})
				ctx := ctxT(t)
				app := e.app()
				g := e.install(t, app)
				contact := seedContact(t, e.sim, "seed@example.com")
				st, another := drv.open(t)
				putConnection(t, st, "conn-1")
				storedOAuth(t, st, "conn-1", g, time.Now().Add(-time.Minute))
				if n := e.sim.RevokeRefreshTokens(loc); n != 1 {
					t.Fatalf("revoked %d refresh tokens, want 1", n)
				}
				e.sim.SetFaults(ghlsim.Faults{TokenErrorShape: sh.shape})
				e.sim.ResetStats()

				src, err := ghl.NewStoredToken(ghl.StoredTokenConfig{App: app, Tokens: st, Connections: st, ConnectionID: "conn-1"})
				if err != nil {
					t.Fatal(err)
				}
				c := e.client(t, src, nil)
				for range 3 {
					_, err := c.GetContact(ctx, contact.ID)
					if !errors.Is(err, ghl.ErrReconnectRequired) || ghl.Retryable(err) {
						t.Fatalf("err = %v, want a non-retryable ErrReconnectRequired", err)
					}
					if s := err.Error(); strings.Contains(s, g.RefreshToken) || strings.Contains(s, g.AccessToken) {
						t.Fatalf("error leaks a token: %s", s)
					}
				}
				if got := e.sim.Stats().Statuses; len(got) != 0 {
					t.Errorf("API answers %v, want no API call with a dead token", got)
				}
				conn, err := st.GetConnection(ctx, "conn-1")
				if err != nil {
					t.Fatal(err)
				}
				if conn.Status != store.ConnReconnectRequired || !strings.Contains(conn.StatusReason, fmt.Sprint(sh.status)) {
					t.Errorf("connection %s (%q), want reconnect_required naming HTTP %d", conn.Status, conn.StatusReason, sh.status)
				}
				tok, err := st.GetToken(ctx, "conn-1", store.TokenGHL)
				if err != nil || tok.RefreshRejected == "" || tok.RefreshToken != g.RefreshToken {
					t.Errorf("stored token: rejected %q, same refresh token %v (%v)", tok.RefreshRejected, tok.RefreshToken == g.RefreshToken, err)
				}

				// Another process (its own store handle and token source) does not try again.
				other, err := ghl.NewStoredToken(ghl.StoredTokenConfig{App: app, Tokens: another(), Connections: st, ConnectionID: "conn-1"})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := other.AccessToken(ctx); !errors.Is(err, ghl.ErrReconnectRequired) {
					t.Errorf("another process: err = %v, want ErrReconnectRequired", err)
				}
				if n := e.sim.Stats().TokenRequests["refresh_token"]; n != 1 {
					t.Errorf("refresh requests = %d, want exactly 1", n)
				}

				// A re-install stores a new token; the same source recovers without a restart.
				e.sim.SetFaults(ghlsim.Faults{})
				g2 := e.install(t, app)
				storedOAuth(t, st, "conn-1", g2, g2.Expiry)
				if _, err := c.GetContact(ctx, contact.ID); err != nil {
					t.Fatalf("after re-install: %v", err)
				}
				e.assertContract(t)
			})
		}
	}
}

// rotatingStore stands in for another process that stores a new token (a re-install) right
// after our refresh was refused and before we look again.
type rotatingStore struct {
	store.Store
	next    store.Token
	rotated bool
}

func (s *rotatingStore) UpdateToken(ctx context.Context, id string, kind store.TokenKind, fn func(store.Token) (store.Token, error)) (store.Token, error) {
	t, err := s.Store.UpdateToken(ctx, id, kind, fn)
	var oe *ghl.OAuthError
	if !s.rotated && errors.As(err, &oe) {
		s.rotated = true
		if _, perr := s.Store.PutToken(ctx, s.next); perr != nil {
			return t, perr
		}
	}
	return t, err
}

// TestRefreshRefusedButRotatedMeanwhile: the one re-read after a refusal finds a token that
// another process stored meanwhile; it is used, and the connection is not marked.
func TestRefreshRefusedButRotatedMeanwhile(t *testing.T) {
	for _, drv := range stores {
		t.Run(drv.name, func(t *testing.T) {
			e := newEnv(t, ghlsim.Options{})
			ctx := ctxT(t)
			app := e.app()
			old := e.install(t, app)
			fresh := e.install(t, app) // the re-install's grant, about to be stored by "another process"
			contact := seedContact(t, e.sim, "seed@example.com")
			st, _ := drv.open(t)
			putConnection(t, st, "conn-1")
			storedOAuth(t, st, "conn-1", old, time.Now().Add(-time.Minute))
			dead := old.RefreshToken
			// Only the old grant's refresh token is refused.
			e.sim.ResetStats()
			if _, err := app.Refresh(ctx, dead); err != nil {
				t.Fatal(err) // rotates it away: from now on it is refused
			}
			rs := &rotatingStore{Store: st, next: fresh.StoreToken("conn-1")}
			src, err := ghl.NewStoredToken(ghl.StoredTokenConfig{App: app, Tokens: rs, Connections: st, ConnectionID: "conn-1"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.client(t, src, nil).GetContact(ctx, contact.ID); err != nil {
				t.Fatalf("get: %v (want the token stored meanwhile to be used)", err)
			}
			if !rs.rotated {
				t.Fatal("the refresh was not refused; the test did not exercise the re-read")
			}
			conn, _ := st.GetConnection(ctx, "conn-1")
			tok, _ := st.GetToken(ctx, "conn-1", store.TokenGHL)
			if conn.Status != store.ConnActive || tok.RefreshRejected != "" || tok.AccessToken != fresh.AccessToken {
				t.Errorf("connection %s, token rejected %q, token is the new one: %v", conn.Status, tok.RefreshRejected, tok.AccessToken == fresh.AccessToken)
			}
			if n := e.sim.Stats().TokenRequests["refresh_token"]; n != 2 {
				t.Errorf("refresh requests = %d, want 2 (ours to rotate it away, the refused one)", n)
			}
		})
	}
}

// TestOAuthErrorShapes: which token endpoint answers count as a refused grant.
func TestOAuthErrorShapes(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		body    string
		refused bool
		shape   string
	}{
		{"rfc invalid_grant", 400, `{"error":"invalid_grant","error_description":"expired"}`, true, ghl.ShapeRFC6749},
		{"rfc invalid_grant as 401", 401, `{"error":"invalid_grant"}`, true, ghl.ShapeRFC6749},
		{"BadRequestDTO with error", 400, `{"statusCode":400,"message":"Invalid refresh token","error":"Bad Request"}`, true, ghl.ShapeBadRequestDTO},
		{"BadRequestDTO as in the spec", 400, `{"statusCode":400,"message":"Bad Request"}`, true, ghl.ShapeBadRequestDTO},
		{"UnauthorizedDTO", 401, `{"statusCode":401,"message":"Invalid token","error":"Unauthorized"}`, true, ghl.ShapeUnauthorizedDTO},
		{"UnauthorizedDTO message list", 401, `{"statusCode":401,"message":["refresh token revoked"],"error":"Unauthorized"}`, true, ghl.ShapeUnauthorizedDTO},
		{"DTO with RFC wording", 400, `{"statusCode":400,"message":"invalid_grant: token used"}`, true, ghl.ShapeBadRequestDTO},
		// The app's own credentials or request are wrong: reconnecting would not help.
		{"rfc invalid_client", 401, `{"error":"invalid_client"}`, false, ghl.ShapeRFC6749},
		{"HighLevel shape with invalid_client", 401, `{"statusCode":401,"message":"Invalid client credentials","error":"invalid_client"}`, false, ghl.ShapeRFC6749},
		{"rfc invalid_request", 400, `{"error":"invalid_request"}`, false, ghl.ShapeRFC6749},
		{"UnprocessableDTO", 422, `{"statusCode":422,"message":["user_type must be Company or Location"],"error":"Unprocessable Entity"}`, false, ""},
		{"not JSON", 400, `<html>bad gateway</html>`, false, ""},
		{"empty", 401, ``, false, ""},
		{"DTO contradicting the status", 400, `{"statusCode":500,"message":"oops"}`, false, ""},
		{"server error", 500, `{"statusCode":500,"message":"Internal Server Error"}`, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			app := &ghl.OAuthApp{ClientID: "cid-x", ClientSecret: "secret", TokenURL: srv.URL}
			_, err := app.Refresh(context.Background(), "rt-secret-value")
			var oe *ghl.OAuthError
			if !errors.As(err, &oe) {
				t.Fatalf("err = %v, want *OAuthError", err)
			}
			if oe.InvalidGrant() != tc.refused || oe.Shape != tc.shape || oe.Status != tc.status {
				t.Errorf("%v: refused %v shape %q status %d, want %v %q %d", err, oe.InvalidGrant(), oe.Shape, oe.Status, tc.refused, tc.shape, tc.status)
			}
			if strings.Contains(err.Error(), "rt-secret-value") || strings.Contains(err.Error(), "secret") {
				t.Errorf("error text leaks a secret: %s", err)
			}
		})
	}
}
