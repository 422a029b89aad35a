package rzsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	// DefaultPerPage and MaxPerPage bound list pages, as Referrizer documents.
	DefaultPerPage = 30
	MaxPerPage     = 100
	// MaxBodyBytes bounds request bodies; larger ones are answered 413.
	MaxBodyBytes = 1 << 20
	// MaxTextValueLen bounds a TEXT custom field value, in characters. Referrizer's limit is
	// unknown; a bound makes projections that forget to truncate fail in tests.
	MaxTextValueLen = 4000
	// AdminAccountHeader carries the account token for admin endpoints.
	AdminAccountHeader = "X-Account-Token"

	timeLayout = "2006-01-02T15:04:05.000Z" // ISO 8601 UTC with milliseconds, as documented
	dateLayout = "2006-01-02"
)

// ListShape selects how list bodies are shaped.
type ListShape int

const (
	// ListArray answers lists with a bare JSON array (what shipped third-party code reads).
	ListArray ListShape = iota
	// ListEnvelope answers {"data": [...], "total": n, "page": p} (the derived spec's shape).
	ListEnvelope
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Seed seeds the generator behind ids and fault injection; the same seed and the same
	// sequence of requests give the same ids and faults.
	Seed uint64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ListShape shapes list responses (default ListArray).
	ListShape ListShape
	// ErrorCodeKey names the error code key in error bodies: "errorCode" (default, the
	// official docs) or "code" (the derived spec).
	ErrorCodeKey string
	// OmitTimestamps leaves createdAt/updatedAt out of contacts, since whether Referrizer
	// returns them is unknown.
	OmitTimestamps bool
	// Tokens are accounts to create up front (the dev stack's configured tokens).
	Tokens []string
}

// AccountID identifies a simulated Referrizer account.
type AccountID string

// Server is the simulated Referrizer API. It is safe for concurrent use.
type Server struct {
	opts  Options
	api   *http.ServeMux
	admin *http.ServeMux

	mu       sync.Mutex
	rng      *rand.Rand
	accounts map[string]*account // by token
	seq      int64               // creation order across all accounts
	faults   Faults
	stats    Stats
}

type account struct {
	id         AccountID
	token      string
	contacts   map[string]*record
	ordered    []*record               // by creation
	emails     map[string]string       // lower-cased email → contact id
	fields     map[string]*customField // by id
	visits     []visit
	activities map[string][]Activity // by contact id
}

// New returns a simulator with the accounts in opts.Tokens.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ErrorCodeKey == "" {
		opts.ErrorCodeKey = "errorCode"
	}
	s := &Server{
		opts:     opts,
		api:      http.NewServeMux(),
		admin:    http.NewServeMux(),
		rng:      rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		accounts: map[string]*account{},
		stats:    Stats{Calls: map[string]int64{}},
	}
	for _, t := range opts.Tokens {
		s.AddAccount(t)
	}
	s.routes()
	return s
}

// Handler returns the simulator as an http.Handler (for the standalone binary).
func (s *Server) Handler() http.Handler { return s }

// ServeHTTP serves the API under /v1/ and the admin endpoints under /admin/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if strings.HasPrefix(r.URL.Path, "/admin/") {
		s.admin.ServeHTTP(w, r)
		return
	}
	s.serveAPI(w, r)
}

// AddAccount creates the account for token, or returns the existing one.
func (s *Server) AddAccount(token string) AccountID {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[token]; ok {
		return a.id
	}
	a := &account{
		id:         AccountID(s.newID()),
		token:      token,
		contacts:   map[string]*record{},
		emails:     map[string]string{},
		fields:     map[string]*customField{},
		activities: map[string][]Activity{},
	}
	s.accounts[token] = a
	return a.id
}

func (s *Server) routes() {
	m := s.api
	m.HandleFunc("GET /v1/contacts", s.authed(s.listContacts))
	m.HandleFunc("POST /v1/contacts", s.authed(s.createContact))
	m.HandleFunc("GET /v1/contacts/{id}", s.authed(s.getContact))
	m.HandleFunc("PUT /v1/contacts/{id}", s.authed(s.putContact))
	m.HandleFunc("DELETE /v1/contacts/{id}", s.authed(s.deleteContact))
	m.HandleFunc("GET /v1/contacts/{id}/activities", s.authed(s.listActivities))
	m.HandleFunc("GET /v1/custom-fields", s.authed(s.listCustomFields))
	m.HandleFunc("POST /v1/custom-fields", s.authed(s.createCustomField))
	m.HandleFunc("PUT /v1/custom-fields/{id}/name", s.authed(s.renameCustomField))
	m.HandleFunc("PUT /v1/custom-fields/{id}/options", s.authed(s.setCustomFieldOptions))
	m.HandleFunc("POST /v1/visits", s.authed(s.createVisit))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, &APIError{Status: http.StatusNotFound, Code: "RESOURCE_NOT_FOUND", Message: "no such endpoint"})
	})
	s.adminRoutes()
}

// serveAPI counts the call, applies injected faults (as a gateway would, before auth), then
// routes it.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	_, pattern := s.api.Handler(r)
	key := pattern
	if pattern == "" || pattern == "/" {
		key = r.Method + " (unmatched)"
	}
	s.mu.Lock()
	s.stats.Total++
	s.stats.Calls[key]++
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	if write {
		s.stats.Writes++
	}
	latency := time.Duration(s.faults.LatencyMs) * time.Millisecond
	status, retryAfter, httpDate := s.drawFault()
	if status != 0 {
		s.stats.Faulted++
		if status == http.StatusTooManyRequests {
			s.stats.FaultedRateLimited++
		}
	}
	// lose is drawn for every write that reaches the API while the rate is set, and
	// applied only to a write that succeeded.
	lose, drop := false, false
	if write && status == 0 && s.faults.AppliedThenFailRate > 0 && s.rng.Float64() < s.faults.AppliedThenFailRate {
		lose, drop = true, s.rng.IntN(2) == 0
	}
	now := s.opts.Now()
	s.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if status != 0 {
		if status == http.StatusTooManyRequests && retryAfter > 0 {
			if httpDate {
				w.Header().Set("Retry-After", now.Add(time.Duration(retryAfter)*time.Second).UTC().Format(http.TimeFormat))
			} else {
				w.Header().Set("Retry-After", fmt.Sprint(retryAfter))
			}
		}
		code := "INTERNAL_SERVER_ERROR"
		if status == http.StatusTooManyRequests {
			code = "TOO_MANY_REQUESTS"
		}
		s.writeError(w, &APIError{Status: status, Code: code, Message: "injected fault"})
		return
	}
	targeted := write && status == 0 && !lose && s.hasTargetedLoss(key)
	if !lose && !targeted {
		s.api.ServeHTTP(w, r)
		return
	}
	buf := &bufferedAnswer{header: http.Header{}}
	s.api.ServeHTTP(buf, r)
	if buf.status == 0 {
		buf.status = http.StatusOK
	}
	if buf.status >= 300 {
		maps.Copy(w.Header(), buf.header)
		w.WriteHeader(buf.status)
		_, _ = w.Write(buf.body.Bytes())
		return
	}
	if targeted && !s.takeTargetedLoss(key) {
		maps.Copy(w.Header(), buf.header)
		w.WriteHeader(buf.status)
		_, _ = w.Write(buf.body.Bytes())
		return
	}
	s.loseAnswer(w, drop)
}

// hasTargetedLoss reports whether a call of route key may lose its answer
// (Faults.LoseAnswerOf); takeTargetedLoss counts one down once the call succeeded.
func (s *Server) hasTargetedLoss(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.LoseAnswerOf[key] > 0
}

func (s *Server) takeTargetedLoss(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.LoseAnswerOf[key] <= 0 {
		return false
	}
	s.faults.LoseAnswerOf[key]--
	return true
}

// loseAnswer replaces the answer of a committed write by a 502 or, when drop, by closing
// the connection without an answer.
func (s *Server) loseAnswer(w http.ResponseWriter, drop bool) {
	s.mu.Lock()
	s.stats.AppliedThenFailed++
	if drop {
		s.stats.AppliedThenDropped++
	} else {
		s.stats.AppliedThen5xx++
	}
	s.mu.Unlock()
	if drop {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
		// Not hijackable (HTTP/2, a recorder): abort the response, which resets the stream.
		panic(http.ErrAbortHandler)
	}
	s.writeError(w, &APIError{Status: http.StatusBadGateway, Code: "BAD_GATEWAY", Message: "injected after the write was applied"})
}

// bufferedAnswer holds a handler's answer until it is known whether it is sent.
type bufferedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedAnswer) Header() http.Header { return b.header }

func (b *bufferedAnswer) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedAnswer) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// authed resolves the bearer token to an account or answers 401.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *account)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		var a *account
		if strings.EqualFold(scheme, "Bearer") && token != "" {
			a = s.account(token)
		}
		if a == nil {
			s.writeError(w, &APIError{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: "missing or invalid API token"})
			return
		}
		h(w, r, a)
	}
}

func (s *Server) account(token string) *account {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accounts[token]
}

// APIError is an error answer of the simulator; the admin Go methods return it too.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("rzsim: %d %s: %s", e.Status, e.Code, e.Message)
}

func badRequest(code, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

func notFound(what string) *APIError {
	return &APIError{Status: http.StatusNotFound, Code: "RESOURCE_NOT_FOUND", Message: what + " not found"}
}

func (s *Server) writeError(w http.ResponseWriter, e *APIError) {
	writeJSON(w, e.Status, map[string]string{s.opts.ErrorCodeKey: e.Code, "message": e.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"errorCode":"INTERNAL_SERVER_ERROR","message":"encoding failed"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeList writes one page in the configured shape, with X-Total-Count.
func (s *Server) writeList(w http.ResponseWriter, items []any, total, page int) {
	w.Header().Set("X-Total-Count", fmt.Sprint(total))
	if items == nil {
		items = []any{}
	}
	if s.opts.ListShape == ListEnvelope {
		writeJSON(w, http.StatusOK, map[string]any{"data": items, "total": total, "page": page})
		return
	}
	writeJSON(w, http.StatusOK, items)
}

// readObject reads a JSON object body, answering 413 past MaxBodyBytes.
func readObject(r *http.Request) (map[string]json.RawMessage, *APIError) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &APIError{Status: http.StatusRequestEntityTooLarge, Code: "PAYLOAD_TOO_LARGE", Message: "request body exceeds 1 MiB"}
		}
		return nil, badRequest("ILLEGAL_ARGUMENT", "cannot read body")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, badRequest("ILLEGAL_ARGUMENT", "body must be a JSON object")
	}
	return obj, nil
}

// pageParams parses page and perPage strictly: out-of-range values are rejected.
func pageParams(r *http.Request) (page, perPage int, e *APIError) {
	page, perPage = 1, DefaultPerPage
	q := r.URL.Query()
	if v := q.Get("page"); v != "" {
		if _, err := fmt.Sscan(v, &page); err != nil || page < 1 || fmt.Sprint(page) != v {
			return 0, 0, badRequest("ILLEGAL_ARGUMENT", "page must be an integer >= 1")
		}
	}
	if v := q.Get("perPage"); v != "" {
		if _, err := fmt.Sscan(v, &perPage); err != nil || perPage < 1 || perPage > MaxPerPage || fmt.Sprint(perPage) != v {
			return 0, 0, badRequest("ILLEGAL_ARGUMENT", "perPage must be an integer from 1 to %d", MaxPerPage)
		}
	}
	return page, perPage, nil
}

// window returns the bounds of one page over n items.
func window(n, page, perPage int) (lo, hi int) {
	lo = (page - 1) * perPage
	if lo > n {
		lo = n
	}
	hi = lo + perPage
	if hi > n {
		hi = n
	}
	return lo, hi
}

// newID returns a 32-char lowercase hex id. Callers hold s.mu.
func (s *Server) newID() string {
	return fmt.Sprintf("%016x%016x", s.rng.Uint64(), s.rng.Uint64())
}

// now returns the clock in UTC truncated to milliseconds, the API's precision. Callers
// hold s.mu or accept a racy clock read (the clock is the caller's).
func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }
