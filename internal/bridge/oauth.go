package bridge

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/store"
)

// stateCookieName holds the OAuth state of one browser's install attempt. Comparing it with the
// state HighLevel echoes back proves the callback belongs to an install this browser started
// (CSRF), without server-side session storage, so any replica can serve the callback.
const stateCookieName = "hlrz_oauth_state"

// stateTTL is how long an install may take between /oauth/start and the callback.
const stateTTL = 15 * time.Minute

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body>
<h1>{{.Title}}</h1>
{{if .CompanyID}}<p>Agency <code>{{.CompanyID}}</code> is connected{{if not .Connections}}; its locations are connected as HighLevel reports the app installed on them{{end}}.</p>
{{end}}{{range .Connections}}<p>HighLevel location <code>{{.LocationID}}</code> is connected as connection <code>{{.ID}}</code>{{if .Created}} (new){{end}}.
{{if .Pending}}It syncs once its Referrizer API token is added: <code>starter connect -c {{.ID}} --rz-token -</code>{{end}}</p>
{{end}}{{if .Message}}<p>{{.Message}}</p>
<p><a href="start">Start the installation again</a></p>{{else}}<p>You can close this page.</p>{{end}}
</body></html>
`))

type page struct {
	Title, Message, CompanyID string
	Connections               []pageConn
}

type pageConn struct {
	ID, LocationID   string
	Created, Pending bool
}

func pageConnOf(c store.Connection, created bool) pageConn {
	return pageConn{ID: c.ID, LocationID: c.GHLLocationID, Created: created, Pending: c.Status == store.ConnPending}
}

// serveOAuthStart sends the installing admin to HighLevel's choose-location page, with a
// fresh state bound to this browser by a cookie.
func (b *Bridge) serveOAuthStart(w http.ResponseWriter, r *http.Request) {
	if b.cfg.OAuth == nil {
		b.oauthError(w, http.StatusNotFound, "The HighLevel app is not configured on this server.")
		return
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		b.log.Error("oauth: random state", "error", err)
		b.oauthError(w, http.StatusInternalServerError, "Could not start the installation.")
		return
	}
	state := base64.RawURLEncoding.EncodeToString(raw[:])
	http.SetCookie(w, b.stateCookie(state, int(stateTTL/time.Second)))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, b.oauthApp().AuthCodeURL(state), http.StatusFound)
}

// serveOAuthCallback finishes an install: check state, exchange the code, create or update
// the connection and store its tokens encrypted. Pages never show tokens or error texts
// from the token endpoint.
//
// Two kinds of install arrive here. One started at /oauth/start carries our state, which
// must match this browser's cookie (a state that is present but wrong is refused). One
// started in HighLevel's marketplace carries a code and no state (ghl-facts.md §3): it is
// accepted without the cookie, because nothing but the code is taken from the browser. The
// code is exchanged server-side with the client secret, and the location (or company)
// connected is the one the token response names, never a query parameter. A code can only
// come from an admin installing this app on their own location, so the worst a forged link
// can do is install the app where its sender already could; and the connection it creates
// stays pending until an operator adds a Referrizer credential.
func (b *Bridge) serveOAuthCallback(w http.ResponseWriter, r *http.Request) {
	if b.cfg.OAuth == nil {
		b.oauthError(w, http.StatusNotFound, "The HighLevel app is not configured on this server.")
		return
	}
	// The state is single-use whatever happens next.
	http.SetCookie(w, b.stateCookie("", -1))
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		b.log.Warn("oauth: HighLevel returned an error", "error", clip(e, 100))
		b.oauthError(w, http.StatusBadRequest, "HighLevel did not grant access ("+clip(e, 100)+").")
		return
	}
	origin := "marketplace"
	if state := q.Get("state"); state != "" {
		origin = "start"
		c, err := r.Cookie(stateCookieName)
		if err != nil || c.Value == "" {
			b.log.Warn("oauth: callback with state but without state cookie")
			b.oauthError(w, http.StatusBadRequest, "This installation was not started from this browser, or it took too long.")
			return
		}
		if subtle.ConstantTimeCompare([]byte(state), []byte(c.Value)) != 1 {
			b.log.Warn("oauth: state mismatch")
			b.oauthError(w, http.StatusBadRequest, "The installation request does not match this browser's session.")
			return
		}
	}
	code := q.Get("code")
	if code == "" {
		b.oauthError(w, http.StatusBadRequest, "HighLevel sent no authorization code.")
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	grant, err := b.oauthApp().Exchange(ctx, code)
	if err != nil {
		b.log.Error("oauth: exchange authorization code", "origin", origin, "error", err) // OAuthError carries no tokens
		b.oauthError(w, http.StatusBadGateway, "HighLevel did not accept the authorization code.")
		return
	}
	if grant.LocationID == "" {
		b.installCompany(ctx, w, grant, origin)
		return
	}
	conn, created, err := b.installLocation(ctx, grant.LocationID, grant.CompanyID, grant.StoreToken)
	if err != nil {
		b.log.Error("oauth: record install", "origin", origin, "locationId", grant.LocationID, "error", err)
		b.oauthError(w, http.StatusInternalServerError, "Could not record the connection; please try again.")
		return
	}
	b.log.Info("oauth: installed", "origin", origin, "connection", conn.ID, "locationId", grant.LocationID, "created", created, "status", string(conn.Status))
	b.render(w, http.StatusOK, page{Title: "HighLevel connected", Connections: []pageConn{pageConnOf(conn, created)}})
}

// installLocation records that the app was installed on a location with a HighLevel token:
// it creates the connection (pending) or finds it, stores the token, and then sets the
// status (installedStatus). The token is written before the status so that a worker seeing
// the connection active again never reads the old, rejected token.
func (b *Bridge) installLocation(ctx context.Context, locationID, companyID string, token func(connID string) store.Token) (store.Connection, bool, error) {
	conn, created, err := b.ensureConnection(ctx, locationID, companyID)
	if err != nil {
		return conn, false, err
	}
	if _, err := b.store.PutToken(ctx, token(conn.ID)); err != nil {
		return conn, created, fmt.Errorf("store HighLevel token of connection %s: %w", conn.ID, err)
	}
	if created {
		return conn, true, nil
	}
	conn, err = b.reactivate(ctx, conn, companyID)
	return conn, false, err
}

// reactivate brings an existing connection back after a new install: the fresh tokens fix
// reconnect-required, and a re-install undoes an uninstall. A connection without its
// Referrizer credential becomes (or stays) pending.
func (b *Bridge) reactivate(ctx context.Context, conn store.Connection, companyID string) (store.Connection, error) {
	if conn.GHLCompanyID == "" && companyID != "" {
		conn.GHLCompanyID = companyID
		var err error
		if conn, err = b.store.PutConnection(ctx, conn); err != nil {
			return conn, fmt.Errorf("record company of connection %s: %w", conn.ID, err)
		}
	}
	status, reason, err := b.installedStatus(ctx, conn.ID)
	if err != nil {
		return conn, err
	}
	if conn.Status == status {
		return conn, nil
	}
	wasPaused := conn.Status == store.ConnPaused
	if err := b.store.SetConnectionStatus(ctx, conn.ID, status, reason); err != nil {
		return conn, fmt.Errorf("set status of connection %s: %w", conn.ID, err)
	}
	conn.Status, conn.StatusReason = status, reason
	if res, ok := b.cfg.Schedules.(ScheduleResumer); ok && wasPaused && status == store.ConnActive {
		if err := res.ResumeSchedules(ctx, conn.ID, "re-installed"); err != nil {
			// The install itself succeeded; an operator can resume with `starter schedules`.
			b.log.Error("oauth: resume schedules", "connection", conn.ID, "error", err)
		}
	}
	return conn, nil
}

// oauthApp is the configured app with the default scopes filled in.
func (b *Bridge) oauthApp() *ghl.OAuthApp {
	app := *b.cfg.OAuth
	app.Scopes = b.scopes
	return &app
}

func (b *Bridge) stateCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: stateCookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, // Lax: the callback is a top-level GET from HighLevel
		Secure: strings.HasPrefix(b.cfg.OAuth.RedirectURL, "https://"),
	}
}

func (b *Bridge) oauthError(w http.ResponseWriter, status int, msg string) {
	b.render(w, status, page{Title: "HighLevel installation failed", Message: msg})
}

func (b *Bridge) render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := pageTmpl.Execute(w, p); err != nil && !errors.Is(err, http.ErrHandlerTimeout) {
		b.log.Warn("oauth: render page", "error", err)
	}
}
