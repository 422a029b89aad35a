package ghl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/hlrz/hlrz/internal/store"
)

const (
	// DefaultAuthURL is HighLevel's choose-location page, where an admin installs the app.
	DefaultAuthURL = "https://marketplace.gohighlevel.com/v2/oauth/chooselocation"
	// DefaultTokenURL is HighLevel's token endpoint.
	DefaultTokenURL = DefaultBaseURL + "/oauth/token"
	// DefaultRefreshBefore is how long before expiry a token is refreshed. Access tokens
	// live about a day, so five minutes costs nothing and avoids racing the expiry.
	DefaultRefreshBefore = 5 * time.Minute
	// refreshTimeout bounds one refresh, which runs detached from the caller's cancellation:
	// abandoning it after HighLevel rotated the refresh token would lose the new one.
	refreshTimeout = time.Minute
)

// OAuthApp is a HighLevel Marketplace app's OAuth 2.0 configuration.
type OAuthApp struct {
	ClientID     string
	ClientSecret string
	RedirectURL  string
	Scopes       []string
	AuthURL      string // default DefaultAuthURL
	TokenURL     string // default DefaultTokenURL
	// UserType is the token type requested: "Location" (default) or "Company".
	UserType string
	// HTTPClient calls the token endpoint; default has a 30 s timeout.
	HTTPClient *http.Client
}

// AppIDFromClientID is a Marketplace app's id as HighLevel's official SDK derives it: the
// part of the OAuth client id before the first '-' (client ids look like
// "6578278e879ad2646715ba9c-lq4xxxxx"). It is "" for an empty client id.
func AppIDFromClientID(clientID string) string {
	id, _, _ := strings.Cut(strings.TrimSpace(clientID), "-")
	return id
}

// AppID is the app's id, from its client id (AppIDFromClientID).
func (a *OAuthApp) AppID() string { return AppIDFromClientID(a.ClientID) }

func (a *OAuthApp) config() *oauth2.Config {
	authURL, tokenURL := a.AuthURL, a.TokenURL
	if authURL == "" {
		authURL = DefaultAuthURL
	}
	if tokenURL == "" {
		tokenURL = DefaultTokenURL
	}
	return &oauth2.Config{
		ClientID:     a.ClientID,
		ClientSecret: a.ClientSecret,
		RedirectURL:  a.RedirectURL,
		Scopes:       a.Scopes,
		// oauth.json documents client_id and client_secret as form fields.
		Endpoint: oauth2.Endpoint{AuthURL: authURL, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
}

func (a *OAuthApp) userType() string {
	if a.UserType == "" {
		return "Location"
	}
	return a.UserType
}

// context returns ctx carrying the HTTP client x/oauth2 must use for token calls. The client
// adds user_type to every token request: x/oauth2 has no hook for extra refresh parameters,
// and HighLevel expects user_type on refresh as on the code exchange.
func (a *OAuthApp) context(ctx context.Context) context.Context {
	base := a.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: 30 * time.Second}
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	hc := *base
	hc.Transport = formParams{base: rt, extra: url.Values{"user_type": {a.userType()}}}
	return context.WithValue(ctx, oauth2.HTTPClient, &hc)
}

// AuthCodeURL is the choose-location URL to send an installing admin to; HighLevel redirects
// back to RedirectURL with ?code=…&state=state.
func (a *OAuthApp) AuthCodeURL(state string, opts ...oauth2.AuthCodeOption) string {
	return a.config().AuthCodeURL(state, opts...)
}

// Grant is what the token endpoint returns. String never prints the tokens.
type Grant struct {
	AccessToken  string
	RefreshToken string
	Expiry       time.Time
	Scope        string
	UserType     string
	LocationID   string
	CompanyID    string
	UserID       string
	// ApprovedLocations are the locations an agency approved in a bulk install (Company
	// grants only).
	ApprovedLocations  []string
	IsBulkInstallation bool
}

func (g Grant) String() string {
	return fmt.Sprintf("ghl.Grant{location=%s company=%s userType=%s expiry=%s}", g.LocationID, g.CompanyID, g.UserType, g.Expiry.Format(time.RFC3339))
}

// GoString keeps %#v from printing the tokens.
func (g Grant) GoString() string { return g.String() }

// StoreToken is the grant as the store keeps it.
func (g Grant) StoreToken(connectionID string) store.Token {
	return store.Token{
		ConnectionID: connectionID, Kind: store.TokenGHL, Mode: store.AuthOAuth,
		AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, Expiry: g.Expiry, Scope: g.Scope,
	}
}

// Exchange trades the authorization code from the install redirect for tokens.
func (a *OAuthApp) Exchange(ctx context.Context, code string) (Grant, error) {
	if code == "" {
		return Grant{}, &OAuthError{Op: "exchange", Err: errors.New("empty authorization code")}
	}
	tok, err := a.config().Exchange(a.context(ctx), code)
	if err != nil {
		return Grant{}, oauthError("exchange", err)
	}
	return grantOf(tok), nil
}

// Refresh trades a refresh token for a new pair. HighLevel rotates: the old refresh token
// stops working, so the caller must persist the new one before anything else can fail.
// Use StoredToken rather than calling this directly.
func (a *OAuthApp) Refresh(ctx context.Context, refreshToken string) (Grant, error) {
	if refreshToken == "" {
		return Grant{}, &OAuthError{Op: "refresh", Err: errors.New("empty refresh token")}
	}
	tok, err := a.config().TokenSource(a.context(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return Grant{}, oauthError("refresh", err)
	}
	return grantOf(tok), nil
}

func grantOf(t *oauth2.Token) Grant {
	str := func(k string) string {
		if s, ok := t.Extra(k).(string); ok {
			return s
		}
		return ""
	}
	var approved []string
	if list, ok := t.Extra("approvedLocations").([]any); ok {
		for _, v := range list {
			if s, ok := v.(string); ok && s != "" {
				approved = append(approved, s)
			}
		}
	}
	bulk, _ := t.Extra("isBulkInstallation").(bool)
	return Grant{
		AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, Expiry: t.Expiry,
		Scope: str("scope"), UserType: str("userType"), LocationID: str("locationId"),
		CompanyID: str("companyId"), UserID: str("userId"), ApprovedLocations: approved, IsBulkInstallation: bulk,
	}
}

// CompanyToken is a Company grant as the store keeps it (store.CompanyTokens).
func (g Grant) CompanyToken() store.Token {
	return store.Token{Kind: store.TokenGHLCompany, Mode: store.AuthOAuth, AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, Expiry: g.Expiry, Scope: g.Scope}
}

// LocationGrant is a Location token obtained from a Company token.
type LocationGrant struct {
	AccessToken string
	Expiry      time.Time
	Scope       string
	LocationID  string
}

func (g LocationGrant) String() string {
	return fmt.Sprintf("ghl.LocationGrant{location=%s expiry=%s}", g.LocationID, g.Expiry.Format(time.RFC3339))
}

// GoString keeps %#v from printing the token.
func (g LocationGrant) GoString() string { return g.String() }

// StoreToken is the Location token as the store keeps it: mode company, no refresh token.
func (g LocationGrant) StoreToken(connectionID string) store.Token {
	return store.Token{ConnectionID: connectionID, Kind: store.TokenGHL, Mode: store.AuthCompany, AccessToken: g.AccessToken, Expiry: g.Expiry, Scope: g.Scope}
}

// locationTokenURL is POST /oauth/locationToken next to the token endpoint.
func (a *OAuthApp) locationTokenURL() string {
	if a.TokenURL == "" {
		return DefaultBaseURL + "/oauth/locationToken"
	}
	return strings.TrimSuffix(a.TokenURL, "/oauth/token") + "/oauth/locationToken"
}

// LocationToken obtains a Location token for locationID from companyID's Company access token
// (POST /oauth/locationToken, oauth.json), as an agency's bulk install requires. Errors are
// *OAuthError (op "locationToken"), without the response body.
func (a *OAuthApp) LocationToken(ctx context.Context, companyAccessToken, companyID, locationID string) (LocationGrant, error) {
	if companyAccessToken == "" || companyID == "" || locationID == "" {
		return LocationGrant{}, &OAuthError{Op: "locationToken", Err: errors.New("company token, company id and location id are required")}
	}
	form := url.Values{"companyId": {companyID}, "locationId": {locationID}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.locationTokenURL(), strings.NewReader(form))
	if err != nil {
		return LocationGrant{}, &OAuthError{Op: "locationToken", Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Version", APIVersion)
	req.Header.Set("Authorization", "Bearer "+companyAccessToken)
	hc := a.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is ours, but keep errors alike
		}
		return LocationGrant{}, &OAuthError{Op: "locationToken", Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return LocationGrant{}, &OAuthError{Op: "locationToken", Err: fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode/100 != 2 {
		var rfc struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &rfc)
		e := &OAuthError{Op: "locationToken", Status: resp.StatusCode}
		e.Code, e.Shape = classifyOAuthBody(resp.StatusCode, rfc.Error, body)
		return LocationGrant{}, e
	}
	var out struct {
		AccessToken string  `json:"access_token"`
		ExpiresIn   float64 `json:"expires_in"`
		Scope       string  `json:"scope"`
		LocationID  string  `json:"locationId"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.AccessToken == "" {
		return LocationGrant{}, &OAuthError{Op: "locationToken", Err: errors.New("answer has no access_token")}
	}
	if out.LocationID != "" && out.LocationID != locationID {
		return LocationGrant{}, &OAuthError{Op: "locationToken", Err: fmt.Errorf("answer is for location %s, not %s", out.LocationID, locationID)}
	}
	g := LocationGrant{AccessToken: out.AccessToken, Scope: out.Scope, LocationID: locationID}
	if out.ExpiresIn > 0 {
		g.Expiry = time.Now().Add(time.Duration(out.ExpiresIn * float64(time.Second)))
	}
	return g, nil
}

// oauthError turns an x/oauth2 error into an *OAuthError without the response body (which
// may hold tokens) or the request URL.
func oauthError(op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e := &OAuthError{Op: op}
		if re.Response != nil {
			e.Status = re.Response.StatusCode
		}
		if e.Status == 0 {
			e.Status = http.StatusBadRequest // a 2xx carrying an "error" field
		}
		e.Code, e.Shape = classifyOAuthBody(e.Status, re.ErrorCode, re.Body)
		return e
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &OAuthError{Op: op, Err: ue.Err}
	}
	return &OAuthError{Op: op, Err: err}
}

// rfc6749Codes are the error codes RFC 6749 §5.2 defines for the token endpoint.
var rfc6749Codes = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true,
	"unauthorized_client": true, "unsupported_grant_type": true, "invalid_scope": true,
}

// classifyOAuthBody works out which documented shape a token endpoint error body has, and its
// RFC 6749 code (“” when it has none). code is the "error" field x/oauth2 read.
func classifyOAuthBody(status int, code string, body []byte) (rfcCode, shape string) {
	if rfc6749Codes[code] {
		return code, ShapeRFC6749
	}
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil {
		return "", ""
	}
	msg := messageText(eb.Message)
	dto := ""
	switch {
	case eb.StatusCode == 400 || (eb.StatusCode == 0 && strings.EqualFold(eb.Error, "Bad Request")):
		dto = ShapeBadRequestDTO
	case eb.StatusCode == 401 || (eb.StatusCode == 0 && strings.EqualFold(eb.Error, "Unauthorized")):
		dto = ShapeUnauthorizedDTO
	}
	if dto == "" || (msg == "" && eb.Error == "") || (eb.StatusCode != 0 && eb.StatusCode != status) {
		return "", "" // not a documented body, or one that contradicts the HTTP status
	}
	// Some HighLevel versions put the RFC wording in the message instead of a code.
	lower := strings.ToLower(msg + " " + eb.Error)
	if strings.Contains(lower, "invalid_grant") || strings.Contains(lower, "invalid grant") {
		return "invalid_grant", dto
	}
	return "", dto
}

// formParams adds form fields a token request lacks.
type formParams struct {
	base  http.RoundTripper
	extra url.Values
}

func (f formParams) RoundTrip(req *http.Request) (*http.Response, error) {
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if req.Method != http.MethodPost || req.Body == nil || ct != "application/x-www-form-urlencoded" {
		return f.base.RoundTrip(req)
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	vals, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, fmt.Errorf("token request form: %w", err)
	}
	for k, v := range f.extra {
		if vals.Get(k) == "" {
			vals[k] = v
		}
	}
	enc := vals.Encode()
	r2 := req.Clone(req.Context())
	r2.Body = io.NopCloser(strings.NewReader(enc))
	r2.ContentLength = int64(len(enc))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(enc)), nil }
	return f.base.RoundTrip(r2)
}

// StoredTokenConfig configures a StoredToken.
type StoredTokenConfig struct {
	// App refreshes OAuth tokens; it may be nil for Private Integration connections.
	App          *OAuthApp
	Tokens       store.Tokens
	Connections  store.Connections
	ConnectionID string
	// RefreshBefore is how long before expiry to refresh; default DefaultRefreshBefore.
	RefreshBefore time.Duration
	// Companies, CompanyID and LocationID renew a Location token obtained from an agency's
	// Company token (store.AuthCompany, after a bulk install); unused otherwise.
	Companies             store.CompanyTokens
	CompanyID, LocationID string
}

// StoredToken is the TokenSource of a connection whose token lives in the store. A Private
// Integration token is returned as is. An OAuth token is refreshed shortly before it expires,
// or when HighLevel answers 401, at most once at a time per StoredToken (callers wait for the
// refresh in flight) and at most once across processes: the refresh runs inside
// store.Tokens.UpdateToken, which holds the row lock, skips the call when another process
// already refreshed, and persists the rotated pair in the same transaction. When HighLevel
// rejects the refresh token the connection is marked reconnect-required and every call
// fails with ErrReconnectRequired until a new token is stored.
//
// Use one StoredToken per connection per process.
type StoredToken struct {
	app    *OAuthApp
	tokens store.Tokens
	conns  store.Connections
	connID string
	before time.Duration

	mu          sync.Mutex
	cur         store.Token
	loaded      bool
	rejected    string // access token HighLevel answered 401 to
	flight      *refreshFlight
	dead        error // reconnect required, as of token version deadVersion
	deadVersion int64

	// company is the agency's token source, for Location tokens of mode company.
	company               *StoredToken
	companyID, locationID string

	refreshes atomic.Int64
}

type refreshFlight struct {
	done  chan struct{}
	token string
	err   error
}

// NewStoredToken returns the token source of one connection.
func NewStoredToken(cfg StoredTokenConfig) (*StoredToken, error) {
	if cfg.Tokens == nil || cfg.Connections == nil || cfg.ConnectionID == "" {
		return nil, errors.New("ghl: StoredToken needs Tokens, Connections and ConnectionID")
	}
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = DefaultRefreshBefore
	}
	s := &StoredToken{app: cfg.App, tokens: cfg.Tokens, conns: cfg.Connections, connID: cfg.ConnectionID, before: cfg.RefreshBefore,
		companyID: cfg.CompanyID, locationID: cfg.LocationID}
	if cfg.Companies != nil && cfg.CompanyID != "" && cfg.App != nil {
		c, err := NewCompanyToken(cfg.App, cfg.Companies, cfg.CompanyID)
		if err != nil {
			return nil, err
		}
		s.company = c
	}
	return s, nil
}

// Refreshes is how many times this source called the token endpoint to refresh.
func (s *StoredToken) Refreshes() int64 { return s.refreshes.Load() }

func (s *StoredToken) fresh(t store.Token, now time.Time) bool {
	if t.AccessToken == "" {
		return false
	}
	return t.Mode == store.AuthPrivate || t.Expiry.IsZero() || now.Add(s.before).Before(t.Expiry)
}

// AccessToken returns a valid access token, refreshing first when needed.
func (s *StoredToken) AccessToken(ctx context.Context) (string, error) {
	s.mu.Lock()
	if !s.loaded || s.dead != nil {
		s.mu.Unlock()
		t, err := s.tokens.GetToken(ctx, s.connID, store.TokenGHL)
		if errors.Is(err, store.ErrNotFound) {
			// Nothing to retry until someone installs the app (or stores a private token).
			return "", errors.Join(&ReconnectError{ConnectionID: s.connID, Reason: "no HighLevel token is stored"}, err)
		}
		if err != nil {
			return "", fmt.Errorf("ghl: load token of connection %s: %w", s.connID, err)
		}
		s.mu.Lock()
		if s.dead != nil && t.Version == s.deadVersion {
			err := s.dead
			s.mu.Unlock()
			return "", err
		}
		if t.RefreshRejected != "" && t.Mode != store.AuthPrivate {
			// Refused before, by this process or another: no call to the token endpoint
			// until a new token is stored.
			err := &ReconnectError{ConnectionID: s.connID, Reason: refusedReason(t.RefreshRejected)}
			s.cur, s.loaded, s.dead, s.deadVersion = t, true, err, t.Version
			s.mu.Unlock()
			return "", err
		}
		s.dead = nil
		if !s.loaded || t.Version >= s.cur.Version {
			s.cur, s.loaded = t, true
		}
	}
	if s.cur.AccessToken != s.rejected && s.fresh(s.cur, time.Now()) {
		tok := s.cur.AccessToken
		s.mu.Unlock()
		return tok, nil
	}
	if f := s.flight; f != nil {
		s.mu.Unlock()
		select {
		case <-f.done:
			return f.token, f.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	f := &refreshFlight{done: make(chan struct{})}
	s.flight = f
	stale, fromCompany := s.rejected, s.cur.Mode == store.AuthCompany
	s.mu.Unlock()

	t, err := s.refresh(ctx, stale, fromCompany)

	s.mu.Lock()
	if err == nil {
		s.cur = t
		if t.AccessToken != stale {
			s.rejected = ""
		}
		f.token = t.AccessToken
	} else {
		f.err = err
		var re *ReconnectError
		if errors.As(err, &re) {
			// The store now holds the token with its rejection (a newer version than ours):
			// only a version beyond that one revives the source.
			s.dead, s.deadVersion = err, max(s.cur.Version, re.version)
		}
	}
	s.flight = nil
	close(f.done)
	s.mu.Unlock()
	return f.token, f.err
}

// Invalidate records that HighLevel rejected token. For an OAuth token the next AccessToken
// refreshes, so the call is worth one retry; a rejected private token is re-read from the
// store on the next call (an operator may have replaced it) but not retried now.
func (s *StoredToken) Invalidate(_ context.Context, token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.Mode == store.AuthPrivate {
		s.loaded = false
		return false
	}
	s.rejected = token
	return true
}

// refresh runs the single-flight refresh under the store's row lock. stale is an access
// token HighLevel rejected ("" when refreshing because of expiry).
//
// When HighLevel refuses the refresh token (HTTP 400/401 in any documented shape, see
// OAuthError.InvalidGrant), the stored token is read once more under the lock: another
// process (a re-install, an operator) may have stored a new one meanwhile, and then that one
// is used. Otherwise the refusal is written onto the token (store.Token.RefreshRejected), so
// no process calls the token endpoint for it again, and the connection is marked
// reconnect-required.
func (s *StoredToken) refresh(ctx context.Context, stale string, fromCompany bool) (store.Token, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		// A Location token from a company token needs the company's access token, read (and
		// refreshed) before this row's lock is taken: SQLite has one writer, so the two row
		// locks cannot nest.
		var companyAT string
		if fromCompany {
			at, err := s.companyAccessToken(ctx)
			if err != nil {
				return store.Token{}, s.reconnectOr(ctx, err)
			}
			companyAT = at
		}
		var refused store.Token // the token whose refresh token HighLevel refused
		t, err := s.tokens.UpdateToken(ctx, s.connID, store.TokenGHL, func(cur store.Token) (store.Token, error) {
			return s.refreshed(ctx, cur, stale, companyAT, &refused)
		})
		if err == nil {
			return t, nil
		}
		var re *ReconnectError
		var oe *OAuthError
		switch {
		case errors.Is(err, errNeedCompanyToken) && attempt == 0:
			fromCompany = true
			continue
		case errors.Is(err, errCompanyTokenRefused) && attempt == 0:
			s.company.Invalidate(ctx, companyAT) // refreshed on the next round
			continue
		case errors.As(err, &oe) && oe.Op != "locationToken" && oe.InvalidGrant():
			marked, rotated, merr := s.markRefused(ctx, refused, oe)
			if merr != nil {
				// Not recorded: the next use refreshes (and is refused) again.
				return store.Token{}, errors.Join(fmt.Errorf("ghl: refresh token of connection %s: %w", s.connID, err), merr)
			}
			if rotated {
				if attempt == 0 {
					continue // someone stored a new token meanwhile: use it
				}
				return store.Token{}, fmt.Errorf("ghl: refresh token of connection %s: %w (and the stored token changed twice meanwhile)", s.connID, err)
			}
			re = &ReconnectError{ConnectionID: s.connID, Reason: refusedReason(marked.RefreshRejected), version: marked.Version}
		case errors.As(err, &re):
		default:
			return store.Token{}, fmt.Errorf("ghl: refresh token of connection %s: %w", s.connID, err)
		}
		if serr := s.conns.SetConnectionStatus(ctx, s.connID, store.ConnReconnectRequired, re.Reason); serr != nil {
			return store.Token{}, errors.Join(re, fmt.Errorf("ghl: record reconnect-required status: %w", serr))
		}
		return store.Token{}, re
	}
}

// refreshed is the token to store in place of cur, read under its row lock: cur itself when
// it is still usable, else a new one from HighLevel. It sets *refused to cur when HighLevel
// refuses cur's refresh token.
func (s *StoredToken) refreshed(ctx context.Context, cur store.Token, stale, companyAT string, refused *store.Token) (store.Token, error) {
	if cur.Mode == store.AuthPrivate {
		return cur, nil
	}
	if cur.RefreshRejected != "" {
		return cur, &ReconnectError{ConnectionID: s.connID, Reason: refusedReason(cur.RefreshRejected), version: cur.Version}
	}
	if cur.AccessToken != stale && s.fresh(cur, time.Now()) {
		return cur, nil // another process refreshed while we waited for the lock
	}
	if cur.Mode == store.AuthCompany {
		if companyAT == "" {
			return cur, errNeedCompanyToken // stored as company mode since we loaded it
		}
		return s.locationToken(ctx, cur, companyAT)
	}
	if cur.RefreshToken == "" {
		return cur, &ReconnectError{ConnectionID: s.connID, Reason: "no refresh token is stored"}
	}
	if s.app == nil {
		return cur, fmt.Errorf("ghl: connection %s uses OAuth but no OAuth app is configured", s.connID)
	}
	s.refreshes.Add(1)
	g, err := s.app.Refresh(ctx, cur.RefreshToken)
	if err != nil {
		*refused = cur
		return cur, err
	}
	next := cur
	next.AccessToken, next.Expiry = g.AccessToken, g.Expiry
	if g.RefreshToken != "" {
		next.RefreshToken = g.RefreshToken
	}
	if g.Scope != "" {
		next.Scope = g.Scope
	}
	return next, nil
}

// markRefused re-reads the stored token under its lock. If it is still the one whose refresh
// token HighLevel refused, it records the refusal on it; if someone stored another token
// meanwhile, it reports rotated and changes nothing.
func (s *StoredToken) markRefused(ctx context.Context, refused store.Token, oe *OAuthError) (marked store.Token, rotated bool, err error) {
	why := fmt.Sprintf("HTTP %d", oe.Status)
	switch {
	case oe.Code != "" && oe.Shape != ShapeRFC6749:
		why += " " + oe.Shape + ", " + oe.Code
	case oe.Code != "":
		why += " " + oe.Code
	default:
		why += " " + oe.Shape
	}
	marked, err = s.tokens.UpdateToken(ctx, s.connID, store.TokenGHL, func(cur store.Token) (store.Token, error) {
		if cur.Version != refused.Version || cur.RefreshToken != refused.RefreshToken {
			rotated = true
			return cur, nil
		}
		cur.RefreshRejected = why
		return cur, nil
	})
	if err != nil {
		return marked, false, fmt.Errorf("ghl: record refused refresh token of connection %s: %w", s.connID, err)
	}
	return marked, rotated, nil
}

func refusedReason(why string) string {
	return "HighLevel refused the refresh token (" + why + ")"
}
