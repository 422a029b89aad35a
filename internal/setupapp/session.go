package setupapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hlrz/hlrz/internal/usercontext"
)

// CookieName is the setup page's session cookie.
const CookieName = "hlrz_app"

// sessionAAD binds sealed sessions to their purpose: no other sealed value of the key ring
// opens as a session.
var sessionAAD = []byte("hlrz/setupapp/session/v1")

// session is who is using the page, for which location, until when. It is sealed with the
// store's key ring (AES-256-GCM): the browser can neither read nor forge it.
type session struct {
	Location  string `json:"l"`
	Company   string `json:"c,omitempty"`
	User      string `json:"u"`
	UserName  string `json:"n,omitempty"`
	Type      string `json:"t,omitempty"`
	ExpiresAt int64  `json:"e"`
}

var errNoSession = errors.New("no valid session")

func (h *Handler) newSession(u usercontext.User) session {
	return session{
		Location: u.ActiveLocation, Company: u.CompanyID, User: u.UserID, UserName: u.UserName, Type: u.Type,
		ExpiresAt: h.now().Add(h.cfg.SessionTTL).Unix(),
	}
}

// setCookie gives the browser the session. Inside HighLevel the page lives in a third-party
// iframe: SameSite=None (which needs Secure) lets the cookie travel there, Partitioned keeps
// it working where third-party cookies are partitioned (CHIPS), HttpOnly keeps scripts off it.
func (h *Handler) setCookie(w http.ResponseWriter, s session) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: h.cfg.Keys.SealString(string(raw), sessionAAD), Path: "/app",
		MaxAge: int(h.cfg.SessionTTL.Seconds()), HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode, Partitioned: true,
	})
	return nil
}

// sessionOf opens and checks the request's session cookie.
func (h *Handler) sessionOf(r *http.Request) (session, error) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return session{}, errNoSession
	}
	plain, err := h.cfg.Keys.OpenString(c.Value, sessionAAD)
	if err != nil {
		return session{}, errNoSession
	}
	var s session
	if err := json.Unmarshal([]byte(plain), &s); err != nil || s.Location == "" {
		return session{}, errNoSession
	}
	if time.Unix(s.ExpiresAt, 0).Before(h.now()) {
		return session{}, errNoSession
	}
	return s, nil
}

// authorize returns the session when it is valid and for the location the request names:
// 401 without a valid one, 403 for another location's page or API.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) (session, bool) {
	s, err := h.sessionOf(r)
	if err != nil {
		writeError(w, http.StatusUnauthorized, "Open this page from inside HighLevel: your session is missing or has expired.")
		return s, false
	}
	if loc := r.PathValue("location"); loc != s.Location {
		h.log.Warn("setup page: session used for another location", "session", s.Location, "asked", loc)
		writeError(w, http.StatusForbidden, "This session is for another location.")
		return s, false
	}
	if r.Method != http.MethodGet && r.Header.Get(csrfHeader) != "1" {
		// A custom header cannot be sent cross-site without a CORS preflight, which is never
		// answered: a SameSite=None cookie alone does not let another site act here.
		writeError(w, http.StatusForbidden, "Missing "+csrfHeader+" header.")
		return s, false
	}
	return s, true
}

const csrfHeader = "X-HLRZ-App"
