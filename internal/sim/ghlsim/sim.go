// Package ghlsim is a simulator of HighLevel's API v2 for tests, benchmarks and the dev
// stack: contacts (both pagination styles, duplicate detection, upsert), tasks (per contact,
// and the location-wide task search), notes, tags, appointments and custom fields, kept in
// memory per location; Private Integration tokens and OAuth with rotating refresh tokens;
// HighLevel's burst and daily rate limits with the same headers; fault injection; and signed
// webhooks for every change (Ed25519 X-GHL-Signature, optionally the legacy RSA
// X-WH-Signature), delivered asynchronously with optional duplicates, delays and reordering,
// and retried like HighLevel only after a 429. Randomness is seeded, so runs reproduce.
//
// Admin endpoints under /admin/ (and the matching Go methods) act as a person editing in
// HighLevel and expose counters. They are unauthenticated: the simulator is for local use.
package ghlsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// The OAuth app a simulator accepts unless Options name another.
const (
	DefaultClientID     = "sim-client-id"
	DefaultClientSecret = "sim-client-secret"
	// DefaultSharedSecret is the app's Shared Secret the stand-in frame encrypts the user
	// context with (Options.SharedSecret).
	DefaultSharedSecret = "sim-shared-secret-0123456789abcdef"
)

// Options configures a Server. The zero value is a usable simulator with HighLevel's limits.
type Options struct {
	// CustomPageURL is the app's Custom Page that GET /custom-page embeds, as HighLevel's
	// frame does (SetCustomPageURL changes it later); SharedSecret encrypts the user context
	// it hands that page. Default DefaultSharedSecret.
	CustomPageURL, SharedSecret string

	// Seed makes ids, tokens and fault decisions reproducible; 0 means 1.
	Seed uint64
	// Now is the clock for timestamps and token expiry; default time.Now.
	Now func() time.Time

	// PrivateTokens maps Private Integration tokens to their location.
	PrivateTokens map[string]string

	// OAuth app the simulator accepts; defaults "sim-client-id" / "sim-client-secret".
	ClientID, ClientSecret string
	// AppID and CompanyID appear in token responses and install events. AppID defaults to
	// the client id up to its first '-' ("sim"), as on HighLevel, where the app id is that
	// part of the client id.
	AppID, CompanyID string
	// DefaultLocationID is installed by the choose-location page when the request names
	// no ?locationId=.
	DefaultLocationID string
	// AccessTokenTTL is how long OAuth access tokens live; default 86399 s like HighLevel.
	AccessTokenTTL time.Duration

	// RateMax requests per RateInterval per location (default 100 per 10 s, a sliding
	// window on the wall clock, not Now) and DailyLimit per location per UTC day (default
	// 200,000). Scale them down to test pacing quickly.
	RateMax      int
	RateInterval time.Duration
	DailyLimit   int
	// SendRetryAfter adds Retry-After to 429 answers. HighLevel documents only the
	// X-RateLimit-* headers, so it is off by default.
	SendRetryAfter bool

	// AllowDuplicates turns off duplicate detection on create for every location, like the
	// location setting "Allow Duplicate Contact". Off by default, as in most locations;
	// SetAllowDuplicates changes it per location.
	AllowDuplicates bool
	// NotFoundStatus answers lookups of missing records; default 404. Set 400 to mimic the
	// endpoints where HighLevel answers "not found" as a Bad Request.
	NotFoundStatus int
	// MaxBodyBytes bounds request bodies; default 1 MiB.
	MaxBodyBytes int64

	// Webhooks configures event delivery; change it later with SetWebhooks.
	Webhooks WebhookOptions
	// Faults starts the simulator with faults set; change them later with SetFaults.
	Faults Faults

	Logger *slog.Logger
}

// Faults are injected into API requests (not /oauth or /admin) after authentication and
// rate limiting; TokenLatency slows the token endpoint.
type Faults struct {
	ErrorRate     float64       `json:"errorRate"`      // fraction of requests answered 500
	RateLimitRate float64       `json:"rateLimitRate"`  // fraction of requests answered 429 (with RetryAfter)
	Latency       time.Duration `json:"-"`              // added to every request
	LatencyJitter time.Duration `json:"-"`              // plus uniform [0, jitter)
	Force429      int           `json:"force429"`       // answer the next N requests 429
	Force5xx      int           `json:"force5xx"`       // answer the next N requests Status5xx
	Status5xx     int           `json:"status5xx"`      // default 503
	RetryAfter    time.Duration `json:"-"`              // Retry-After sent with forced 429s (0: none)
	TokenLatency  time.Duration `json:"-"`              // added to POST /oauth/token
	LatencyMillis int64         `json:"latencyMs"`      // JSON form of Latency
	JitterMillis  int64         `json:"jitterMs"`       // JSON form of LatencyJitter
	RetryAfterSec float64       `json:"retryAfterSec"`  // JSON form of RetryAfter
	TokenMillis   int64         `json:"tokenLatencyMs"` // JSON form of TokenLatency
	// TokenErrorShape is the body the token endpoint refuses a code or refresh token with
	// (TokenError* constants); "" answers HTTP 400 with HighLevel's shape and an RFC code.
	TokenErrorShape string `json:"tokenErrorShape"`
	// AppliedThenFailRate is the fraction of write requests that are committed and whose
	// answer is then lost: half are answered 502, half have their connection dropped
	// without an answer. The client cannot tell them from a write that never happened.
	AppliedThenFailRate float64 `json:"appliedThenFailRate"`
	// LoseAnswerOf makes a targeted, deterministic lost answer: for an operationId (e.g.
	// "create-task") the next N writes of it that succeed are committed and answered 502.
	// Counts left are shown by Faults.
	LoseAnswerOf map[string]int `json:"loseAnswerOf,omitempty"`
	// NotFoundOf answers the next N calls of an operationId as if the record had been
	// deleted a moment before (nothing is applied): the not-found answer of a lookup.
	NotFoundOf map[string]int `json:"notFoundOf,omitempty"`
}

// Shapes in which the token endpoint refuses a grant (ghl-facts.md §5).
const (
	TokenErrorRFC6749         = "rfc6749"         // 400 {"error":"invalid_grant","error_description":…}
	TokenErrorBadRequestDTO   = "BadRequestDTO"   // 400 {"statusCode":400,"message":…,"error":"Bad Request"}
	TokenErrorUnauthorizedDTO = "UnauthorizedDTO" // 401 {"statusCode":401,"message":…,"error":"Unauthorized"}
)

func (f Faults) normalized() Faults {
	if f.Latency == 0 && f.LatencyMillis > 0 {
		f.Latency = time.Duration(f.LatencyMillis) * time.Millisecond
	}
	if f.LatencyJitter == 0 && f.JitterMillis > 0 {
		f.LatencyJitter = time.Duration(f.JitterMillis) * time.Millisecond
	}
	if f.RetryAfter == 0 && f.RetryAfterSec > 0 {
		f.RetryAfter = time.Duration(f.RetryAfterSec * float64(time.Second))
	}
	if f.TokenLatency == 0 && f.TokenMillis > 0 {
		f.TokenLatency = time.Duration(f.TokenMillis) * time.Millisecond
	}
	f.LatencyMillis, f.JitterMillis, f.RetryAfterSec = f.Latency.Milliseconds(), f.LatencyJitter.Milliseconds(), f.RetryAfter.Seconds()
	f.TokenMillis = f.TokenLatency.Milliseconds()
	switch f.TokenErrorShape {
	case "", TokenErrorRFC6749, TokenErrorBadRequestDTO, TokenErrorUnauthorizedDTO:
	default:
		f.TokenErrorShape = "" // SetFaults validates; this keeps a stray value harmless
	}
	if f.Status5xx < 500 || f.Status5xx > 599 {
		f.Status5xx = http.StatusServiceUnavailable
	}
	return f
}

// Stats are the simulator's counters.
type Stats struct {
	Requests   int64            `json:"requests"`   // API requests that matched an endpoint
	Operations map[string]int64 `json:"operations"` // by HighLevel operationId
	Statuses   map[string]int64 `json:"statuses"`   // API answers by HTTP status
	// Writes counts mutating API requests that reached a handler (authenticated, within the
	// rate limit, no injected fault), whether or not they succeeded: a dry run must leave it
	// at zero.
	Writes           int64            `json:"writes"`
	WritesByLocation map[string]int64 `json:"writesByLocation"`
	RateLimited      int64            `json:"rateLimited"` // 429s answered
	// RequestsByLocation and RateLimitedByLocation split Requests and RateLimited by the
	// location the token opens (requests whose token opens none are not in them): HighLevel
	// limits each app and location on its own, so fairness between locations is read here.
	RequestsByLocation    map[string]int64 `json:"requestsByLocation"`
	RateLimitedByLocation map[string]int64 `json:"rateLimitedByLocation"`
	TokenRequests         map[string]int64 `json:"tokenRequests"` // POST /oauth/token by grant_type
	Webhooks              WebhookStats     `json:"webhooks"`
	// AppliedThenFailed counts writes committed whose answer was then replaced by a 502
	// (AppliedThen5xx) or a dropped connection (AppliedThenDropped).
	AppliedThenFailed  int64 `json:"appliedThenFailed"`
	AppliedThen5xx     int64 `json:"appliedThen5xx"`
	AppliedThenDropped int64 `json:"appliedThenDropped"`
}

type accessGrant struct {
	loc     string
	expires time.Time // zero: never (private integration)
	// company and locs are set for a Company (agency) token: it reaches no location API,
	// only POST /oauth/locationToken for the locations the agency approved.
	company string
	locs    []string
}

type refreshGrant struct {
	loc, scope string
	company    string
	locs       []string
}

type codeGrant struct {
	loc, redirect, scope string
	expires              time.Time
	company              string   // a bulk install by the agency: Company token
	locs                 []string // the locations it approved
}

type window struct {
	times    []time.Time
	day      string
	dayCount int
}

// Server is the simulator. Create it with New; it is safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	handler http.Handler
	wh      *outbox

	mu        sync.Mutex
	rng       *rand.Rand
	contacts  map[string]*Contact
	tasks     map[string]*Task
	notes     map[string]*Note
	appts     map[string]*Appointment
	fields    map[string][]*CustomField // by location
	access    map[string]accessGrant
	refresh   map[string]refreshGrant
	codes     map[string]codeGrant
	limits    map[string]*window
	allowDup  map[string]bool // per-location "Allow Duplicate Contact"; absent: opts.AllowDuplicates
	faults    Faults
	stats     Stats
	lastStamp time.Time
}

// New returns a simulator. Call Close to stop its webhook delivery.
func New(opts Options) *Server {
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.SharedSecret == "" {
		opts.SharedSecret = DefaultSharedSecret
	}
	if opts.AppID == "" {
		// HighLevel's app id is the part of the client id before the first '-'.
		opts.AppID, _, _ = strings.Cut(opts.ClientID, "-")
	}
	if opts.CompanyID == "" {
		opts.CompanyID = "simCompany000000000a"
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = 86399 * time.Second
	}
	if opts.RateMax <= 0 {
		opts.RateMax = 100
	}
	if opts.RateInterval <= 0 {
		opts.RateInterval = 10 * time.Second
	}
	if opts.DailyLimit <= 0 {
		opts.DailyLimit = 200_000
	}
	if opts.NotFoundStatus == 0 {
		opts.NotFoundStatus = http.StatusNotFound
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		rng:      rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		contacts: map[string]*Contact{},
		allowDup: map[string]bool{},
		tasks:    map[string]*Task{},
		notes:    map[string]*Note{},
		appts:    map[string]*Appointment{},
		fields:   map[string][]*CustomField{},
		access:   map[string]accessGrant{},
		refresh:  map[string]refreshGrant{},
		codes:    map[string]codeGrant{},
		limits:   map[string]*window{},
		faults:   opts.Faults.normalized(),
	}
	s.resetStatsLocked()
	for tok, loc := range opts.PrivateTokens {
		s.access[tok] = accessGrant{loc: loc}
	}
	s.wh = newOutbox(opts.Webhooks, opts.Seed+1, opts.Now, opts.Logger)
	s.handler = s.routes()
	return s
}

// Handler serves the simulated API, /oauth and /admin.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops webhook delivery; undelivered events are dropped.
func (s *Server) Close() { s.wh.close() }

// now returns the clock in UTC, truncated to milliseconds (HighLevel's precision, which keeps
// cursors exact) and strictly increasing, so every change has its own dateUpdated and
// creation order is total.
func (s *Server) stampLocked() time.Time {
	t := s.opts.Now().UTC().Truncate(time.Millisecond)
	if !t.After(s.lastStamp) {
		t = s.lastStamp.Add(time.Millisecond)
	}
	s.lastStamp = t
	return t
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newIDLocked makes a 20-character id like HighLevel's.
func (s *Server) newIDLocked() string { return s.randLocked(20) }

func (s *Server) randLocked(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[s.rng.IntN(len(idAlphabet))]
	}
	return string(b)
}

// AddPrivateToken registers a Private Integration token for a location.
func (s *Server) AddPrivateToken(locationID, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.access[token] = accessGrant{loc: locationID}
}

// SetFaults replaces the fault settings.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f.normalized()
	s.faults.LoseAnswerOf = maps.Clone(f.LoseAnswerOf)
	s.faults.NotFoundOf = maps.Clone(f.NotFoundOf)
}

// Faults returns the fault settings, with forced counts as still pending.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.faults
	out.LoseAnswerOf = maps.Clone(out.LoseAnswerOf)
	out.NotFoundOf = maps.Clone(out.NotFoundOf)
	return out
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := s.stats
	st.Operations = cloneMap(s.stats.Operations)
	st.Statuses = cloneMap(s.stats.Statuses)
	st.WritesByLocation = cloneMap(s.stats.WritesByLocation)
	st.RequestsByLocation = cloneMap(s.stats.RequestsByLocation)
	st.RateLimitedByLocation = cloneMap(s.stats.RateLimitedByLocation)
	st.TokenRequests = cloneMap(s.stats.TokenRequests)
	s.mu.Unlock()
	st.Webhooks = s.wh.stats()
	return st
}

// ResetStats zeroes the request counters (webhook counters keep running).
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetStatsLocked()
}

func (s *Server) resetStatsLocked() {
	s.stats = Stats{Operations: map[string]int64{}, Statuses: map[string]int64{}, WritesByLocation: map[string]int64{},
		RequestsByLocation: map[string]int64{}, RateLimitedByLocation: map[string]int64{}, TokenRequests: map[string]int64{}}
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ---- errors in HighLevel's shape ----

// apiError is an answer in HighLevel's error shape (common-schemas.json).
type apiError struct {
	status int
	msg    any // string, or []string for 422
	extra  obj
}

func (e *apiError) Error() string { return fmt.Sprintf("ghlsim: HTTP %d: %v", e.status, e.msg) }

func errBad(msg string) *apiError { return &apiError{status: http.StatusBadRequest, msg: msg} }

func errUnprocessable(msgs ...string) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, msg: msgs}
}

func (s *Server) errNotFound(what string) *apiError {
	return &apiError{status: s.opts.NotFoundStatus, msg: what + " not found"}
}

func errForbidden() *apiError {
	return &apiError{status: http.StatusForbidden, msg: "The token does not have access to this location."}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"statusCode":500,"message":"Internal server error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := obj{"statusCode": e.status, "message": e.msg, "error": http.StatusText(e.status)}
	for k, v := range e.extra {
		body[k] = v
	}
	writeJSON(w, e.status, body)
}

// ---- request plumbing ----

// statusRecorder remembers the status for the counters.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (to drop it).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// readBody reads a bounded body; an oversized body is answered 413 like HighLevel's proxy.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, msg: "request entity too large"}
	}
	if err != nil {
		return nil, errBad("could not read request body")
	}
	return body, nil
}

// decodeStrict decodes a JSON object body into v after checking every property is one the
// operation's DTO declares: HighLevel validates with whitelisting and rejects the rest
// ("property x should not exist").
func decodeStrict(body []byte, allowed []string, v any) *apiError {
	var props map[string]json.RawMessage
	if err := json.Unmarshal(body, &props); err != nil || props == nil {
		return errBad("Unexpected token in JSON body")
	}
	var unknown []string
	for k := range props {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, "property "+k+" should not exist")
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return errUnprocessable(unknown...)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errUnprocessable(fmt.Sprintf("%s must be a %s", jsonPath(te.Field), jsonKind(te.Type.Kind().String())))
		}
		return errBad("Unexpected token in JSON body")
	}
	return nil
}

// jsonPath is the property path of an UnmarshalTypeError's Field without the Go names of
// embedded structs it starts with ("ContactPatch.firstName" is "firstName" in the body).
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	for len(parts) > 1 && parts[0] != "" && unicode.IsUpper(rune(parts[0][0])) {
		parts = parts[1:]
	}
	return strings.Join(parts, ".")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "bool":
		return "boolean value"
	case "slice":
		return "array"
	case "int", "int64", "float64":
		return "number"
	default:
		return goKind
	}
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// admitLocked applies the burst and daily limits of loc and returns the header values.
func (s *Server) admitLocked(loc string, now time.Time) (ok bool, remaining, dailyRemaining int) {
	w := s.limits[loc]
	if w == nil {
		w = &window{}
		s.limits[loc] = w
	}
	cut := now.Add(-s.opts.RateInterval)
	i := 0
	for i < len(w.times) && !w.times[i].After(cut) {
		i++
	}
	w.times = w.times[i:]
	if day := now.UTC().Format(time.DateOnly); day != w.day {
		w.day, w.dayCount = day, 0
	}
	if len(w.times) >= s.opts.RateMax || w.dayCount >= s.opts.DailyLimit {
		return false, s.opts.RateMax - len(w.times), s.opts.DailyLimit - w.dayCount
	}
	w.times = append(w.times, now)
	w.dayCount++
	return true, s.opts.RateMax - len(w.times), s.opts.DailyLimit - w.dayCount
}

// retryAfterLocked is when the oldest request of loc's window leaves it.
func (s *Server) retryAfterLocked(loc string, now time.Time) time.Duration {
	w := s.limits[loc]
	if w == nil || len(w.times) == 0 {
		return s.opts.RateInterval
	}
	return w.times[0].Add(s.opts.RateInterval).Sub(now)
}

func (s *Server) setRateHeaders(h http.Header, remaining, dailyRemaining int) {
	h.Set("X-RateLimit-Max", strconv.Itoa(s.opts.RateMax))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(remaining, 0)))
	h.Set("X-RateLimit-Interval-Milliseconds", strconv.FormatInt(s.opts.RateInterval.Milliseconds(), 10))
	h.Set("X-RateLimit-Limit-Daily", strconv.Itoa(s.opts.DailyLimit))
	h.Set("X-RateLimit-Daily-Remaining", strconv.Itoa(max(dailyRemaining, 0)))
}

// serveAPI authenticates, rate-limits, injects faults and dispatches one API request.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	rt, params := matchRoute(r.Method, r.URL.Path)
	if rt == nil {
		writeError(w, &apiError{status: http.StatusNotFound, msg: "Cannot " + r.Method + " " + r.URL.Path})
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	loc := "" // the token's location, once known
	defer func() {
		s.mu.Lock()
		s.stats.Requests++
		if loc != "" {
			s.stats.RequestsByLocation[loc]++
		}
		s.stats.Operations[rt.op]++
		s.stats.Statuses[strconv.Itoa(rec.status)]++
		s.mu.Unlock()
	}()
	w = rec

	if v := r.Header.Get("Version"); v != "2021-07-28" && v != "2021-04-15" {
		writeError(w, errBad("version header was not found"))
		return
	}
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}

	s.mu.Lock()
	now := s.opts.Now()
	grant, known := s.access[bearer(r)]
	if !known || (!grant.expires.IsZero() && !now.Before(grant.expires)) {
		s.mu.Unlock()
		writeError(w, &apiError{status: http.StatusUnauthorized, msg: "Invalid JWT"})
		return
	}
	if grant.loc == "" {
		s.mu.Unlock()
		writeError(w, &apiError{status: http.StatusUnauthorized, msg: "This authClass type is not allowed to access this scope. Please reach out to the Platform team to get it added."})
		return
	}
	loc = grant.loc
	ok, remaining, dailyRemaining := s.admitLocked(grant.loc, time.Now())
	s.setRateHeaders(w.Header(), remaining, dailyRemaining)
	if !ok {
		s.stats.RateLimited++
		s.stats.RateLimitedByLocation[loc]++
		if s.opts.SendRetryAfter {
			w.Header().Set("Retry-After", strconv.Itoa(int(s.retryAfterLocked(grant.loc, time.Now()).Seconds()+0.999)))
		}
		s.mu.Unlock()
		writeError(w, &apiError{status: http.StatusTooManyRequests, msg: "Too many requests, please try again later."})
		return
	}
	f := &s.faults
	delay := f.Latency
	if f.LatencyJitter > 0 {
		delay += time.Duration(s.rng.Int64N(int64(f.LatencyJitter)))
	}
	var fault *apiError
	switch {
	case f.Force429 > 0:
		f.Force429--
		s.stats.RateLimited++
		s.stats.RateLimitedByLocation[loc]++
		w.Header().Set("X-RateLimit-Remaining", "0")
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.FormatFloat(f.RetryAfter.Seconds(), 'f', -1, 64))
		}
		fault = &apiError{status: http.StatusTooManyRequests, msg: "Too many requests, please try again later."}
	case f.Force5xx > 0:
		f.Force5xx--
		fault = &apiError{status: f.Status5xx, msg: "Service unavailable (injected)"}
	case f.RateLimitRate > 0 && s.rng.Float64() < f.RateLimitRate:
		s.stats.RateLimited++
		s.stats.RateLimitedByLocation[loc]++
		w.Header().Set("X-RateLimit-Remaining", "0")
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.FormatFloat(f.RetryAfter.Seconds(), 'f', -1, 64))
		}
		fault = &apiError{status: http.StatusTooManyRequests, msg: "Too many requests, please try again later."}
	case f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate:
		fault = &apiError{status: http.StatusInternalServerError, msg: "Internal server error (injected)"}
	case f.NotFoundOf[rt.op] > 0:
		f.NotFoundOf[rt.op]--
		fault = s.errNotFound("record (deleted, injected)")
	}
	// lose is drawn for every write while the rate is set (so the sequence of draws does
	// not depend on which writes succeed) and applied only to a write that succeeded.
	lose, drop := false, false
	if rt.write && fault == nil {
		s.stats.Writes++
		s.stats.WritesByLocation[grant.loc]++
		if f.AppliedThenFailRate > 0 && s.rng.Float64() < f.AppliedThenFailRate {
			lose, drop = true, s.rng.IntN(2) == 0
		}
	}
	s.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if fault != nil {
		writeError(w, fault)
		return
	}
	status, resp, aerr := rt.h(s, &request{loc: grant.loc, params: params, query: r.URL.Query(), body: body})
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if !lose && rt.write && status < 300 && s.takeTargetedLoss(rt.op) {
		lose, drop = true, false
	}
	if lose && status < 300 {
		s.loseAnswer(w, drop)
		return
	}
	writeJSON(w, status, resp)
}

// takeTargetedLoss reports whether this succeeded write of op loses its answer
// (Faults.LoseAnswerOf), counting it down.
func (s *Server) takeTargetedLoss(op string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.LoseAnswerOf[op] <= 0 {
		return false
	}
	s.faults.LoseAnswerOf[op]--
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
	writeError(w, &apiError{status: http.StatusBadGateway, msg: "Bad gateway (injected after the write was applied)"})
}

// request is what an API handler sees.
type request struct {
	loc    string
	params map[string]string
	query  map[string][]string
	body   []byte
}

func (q *request) get(k string) string {
	if v := q.query[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
