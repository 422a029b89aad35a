// Package setupapp serves the setup page a business uses inside HighLevel (a marketplace
// Custom Page, ghl-facts.md §7): see the connection's state, give the Referrizer token,
// choose the mapping, preview the first sync, start it, watch and pause it, and deal with
// problems. It is mounted on the bridge's public listener under /app.
//
// Who is looking is HighLevel's word: the page asks its parent frame for the encrypted user
// context, POSTs it to /app/session, and gets a short-lived sealed session cookie bound to
// the user's activeLocation. Every other route answers 401 without that session and 403 for
// another location. The work itself is the CLI's (internal/onboard, dispatch, schedules, and
// the first-sync preview given as Config.Preview), so the page and starter cannot disagree.
package setupapp

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/onboard"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/usercontext"
)

//go:embed web
var webFS embed.FS

var pages = template.Must(template.ParseFS(webFS, "web/*.html"))

// DefaultSessionTTL is how long a session lasts; the page asks HighLevel again after it.
const DefaultSessionTTL = 30 * time.Minute

// maxBody bounds every request body: a token, a mapping document, a payload.
const maxBody = 256 << 10

// Config configures the page. Store, Keys, SharedSecret, Temporal and Conns are required.
type Config struct {
	Store store.Store
	// Keys seal the session cookie (the store's key ring).
	Keys *secrets.Keyring
	// SharedSecret is the marketplace app's Shared Secret (HLRZ_GHL_SHARED_SECRET).
	SharedSecret string
	Temporal     client.Client
	TaskQueue    string
	Conns        *connector.Registry
	// Signal replays dead letters (the worker's dispatcher).
	Signal onboard.Signaler
	// Preview works out what a connection's first backfill will do, reading pageSize
	// contacts per request (activities.PreviewFirstSync, wired by internal/app).
	Preview   func(ctx context.Context, conn *connector.Conn, pageSize int) (domain.Preview, error)
	RZBaseURL string
	// SessionTTL defaults to DefaultSessionTTL.
	SessionTTL time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// Handler serves /app.
type Handler struct {
	cfg Config
	log *slog.Logger
	// scheduled holds the connections whose schedules this process installed after their
	// first sync.
	scheduled sync.Map
}

// New checks cfg and returns the page's handler.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Store == nil, cfg.Keys == nil, cfg.Temporal == nil, cfg.Conns == nil, cfg.Signal == nil, cfg.Preview == nil:
		return nil, errors.New("setupapp: Store, Keys, Temporal, Conns, Signal and Preview are required")
	case cfg.SharedSecret == "":
		return nil, errors.New("setupapp: the Shared Secret is required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, log: log.With("component", "setupapp")}, nil
}

func (h *Handler) now() time.Time { return h.cfg.Now() }

// Routes registers the page's routes on mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /app", h.serveBoot)
	mux.HandleFunc("GET /app/{$}", h.serveBoot)
	mux.HandleFunc("GET /app/static/app.js", h.serveJS)
	mux.HandleFunc("POST /app/session", h.serveSession)
	mux.HandleFunc("GET /app/l/{location}", h.servePage)
	api := map[string]apiFunc{
		"GET /app/api/{location}/state":                      h.apiState,
		"POST /app/api/{location}/token":                     h.apiToken,
		"GET /app/api/{location}/mapping":                    h.apiMapping,
		"POST /app/api/{location}/mapping/form":              h.apiMappingForm,
		"POST /app/api/{location}/mapping/yaml":              h.apiMappingYAML,
		"GET /app/api/{location}/preview":                    h.apiPreview,
		"POST /app/api/{location}/backfill":                  h.apiStartBackfill,
		"GET /app/api/{location}/progress":                   h.apiProgress,
		"POST /app/api/{location}/pause":                     h.apiPause,
		"POST /app/api/{location}/resume":                    h.apiResume,
		"GET /app/api/{location}/problems":                   h.apiProblems,
		"POST /app/api/{location}/deadletters/{id}/{action}": h.apiDeadLetter,
	}
	for pattern, fn := range api {
		mux.HandleFunc(pattern, h.guard(fn))
	}
}

// apiFunc is an API handler that runs with a checked session and the location's connection
// (nil when the app is not installed there).
type apiFunc func(w http.ResponseWriter, r *http.Request, s session, conn *store.Connection)

func (h *Handler) guard(fn apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		s, ok := h.authorize(w, r)
		if !ok {
			return
		}
		conn, err := h.cfg.Store.ConnectionByLocation(r.Context(), s.Location)
		switch {
		case errors.Is(err, store.ErrNotFound):
			fn(w, r, s, nil)
		case err != nil:
			h.fail(w, "read connection", err)
		case conn.GHLCompanyID != "" && s.Company != "" && conn.GHLCompanyID != s.Company:
			// The location was installed by another agency than the user's: not theirs.
			h.log.Warn("setup page: user of another company", "location", s.Location)
			writeError(w, http.StatusForbidden, "This location belongs to another agency.")
		default:
			fn(w, r, s, &conn)
		}
	}
}

// serveBoot is the Custom Page URL: a page with no data that asks HighLevel (the parent
// frame) for the user context and trades it for a session.
func (h *Handler) serveBoot(w http.ResponseWriter, _ *http.Request) {
	h.render(w, "boot.html", nil)
}

func (h *Handler) serveJS(w http.ResponseWriter, _ *http.Request) {
	b, err := webFS.ReadFile("web/app.js")
	if err != nil {
		h.fail(w, "read app.js", err)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// serveSession decrypts HighLevel's user context and answers with a session cookie.
func (h *Handler) serveSession(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Payload string `json:"payload"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, usercontext.MaxPayloadBytes+1024)).Decode(&in); err != nil {
		writeError(w, http.StatusUnauthorized, "No user context from HighLevel.")
		return
	}
	u, err := usercontext.Decrypt(in.Payload, h.cfg.SharedSecret)
	if err != nil {
		h.log.Warn("setup page: user context refused", "error", err)
		writeError(w, http.StatusUnauthorized, "HighLevel's user context could not be verified.")
		return
	}
	s := h.newSession(u)
	if err := h.setCookie(w, s); err != nil {
		h.fail(w, "session", err)
		return
	}
	h.log.Info("setup page: session opened", "location", s.Location, "userType", s.Type)
	writeJSON(w, http.StatusOK, map[string]string{"location": s.Location, "page": "/app/l/" + s.Location})
}

// servePage is the page itself, for the session's location only.
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	s, ok := h.authorize(w, r)
	if !ok {
		return
	}
	h.render(w, "page.html", map[string]string{"Location": s.Location, "UserName": s.UserName})
}

func (h *Handler) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		h.log.Error("setup page: render", "page", name, "error", err)
	}
}

// fail answers 500 without the error's text (it may name hosts) and logs it.
func (h *Handler) fail(w http.ResponseWriter, what string, err error) {
	h.log.Error("setup page: "+what, "error", err)
	writeError(w, http.StatusInternalServerError, "Something went wrong on our side ("+what+"). Try again in a minute.")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func decodeJSON(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return fmt.Errorf("read request: %w", err)
	}
	return nil
}

func bgctx(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d)
}
