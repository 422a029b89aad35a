// Package ghl is a client for HighLevel's API v2 (services.leadconnectorhq.com): the contact,
// task, note, tag, appointment and custom-field endpoints the sync needs, OAuth 2.0 with
// rotating refresh tokens or a static Private Integration token, a per-location rate budget
// that learns from X-RateLimit-* headers, typed errors, and webhook decoding and signature
// verification.
//
// The contract is HighLevel's published OpenAPI specs (../shared/ghl-api); contract tests
// validate every request this client sends against them.
package ghl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

const (
	// DefaultBaseURL is HighLevel's API host.
	DefaultBaseURL = "https://services.leadconnectorhq.com"
	// APIVersion is sent in the Version header of every call.
	APIVersion = "2021-07-28"
	// DefaultMaxResponseBytes bounds the response bodies the client reads.
	DefaultMaxResponseBytes = 4 << 20
)

// TokenSource supplies the bearer token of one connection.
type TokenSource interface {
	// AccessToken returns a token that is valid now.
	AccessToken(ctx context.Context) (string, error)
	// Invalidate reports that HighLevel rejected token with 401. It returns true when asking
	// AccessToken again may give a different token (so the call is worth one retry).
	Invalidate(ctx context.Context, token string) bool
}

// StaticToken is a Private Integration (API) token: it never expires and cannot be refreshed.
type StaticToken string

// AccessToken returns the token.
func (t StaticToken) AccessToken(context.Context) (string, error) {
	if strings.TrimSpace(string(t)) == "" {
		return "", errors.New("ghl: empty private integration token")
	}
	return string(t), nil
}

// Invalidate returns false: a rejected static token stays rejected.
func (StaticToken) Invalidate(context.Context, string) bool { return false }

// String keeps the token out of logs.
func (StaticToken) String() string { return "StaticToken(redacted)" }

// GoString keeps %#v from printing the token.
func (t StaticToken) GoString() string { return t.String() }

// Options configures a Client.
type Options struct {
	// BaseURL defaults to DefaultBaseURL; point it at the simulator in tests and --dev.
	BaseURL string
	// LocationID is the HighLevel location (sub-account) the client works on. Required.
	LocationID string
	// Auth supplies bearer tokens: StaticToken or *StoredToken. Required.
	Auth TokenSource
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
	// Budgets shares rate budgets between clients of the same location; create one per
	// process. Nil gives this client a private budget with HighLevel's default limits.
	Budgets *Budgets
	// MaxResponseBytes bounds response bodies; default DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// Client calls HighLevel for one location. Safe for concurrent use.
type Client struct {
	base    string
	loc     string
	auth    TokenSource
	hc      *http.Client
	budget  *Budget
	maxBody int64
	calls   atomic.Int64
}

// New returns a client.
func New(opts Options) (*Client, error) {
	if opts.LocationID == "" {
		return nil, errors.New("ghl: LocationID is required")
	}
	if opts.Auth == nil {
		return nil, errors.New("ghl: Auth is required")
	}
	base := opts.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("ghl: BaseURL %q is not an absolute URL", base)
	}
	c := &Client{
		base:    strings.TrimRight(base, "/"),
		loc:     opts.LocationID,
		auth:    opts.Auth,
		hc:      opts.HTTPClient,
		maxBody: opts.MaxResponseBytes,
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 30 * time.Second}
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	if opts.Budgets != nil {
		c.budget = opts.Budgets.For(opts.LocationID)
	} else {
		c.budget = NewBudget(BudgetConfig{})
	}
	return c, nil
}

// LocationID is the location the client works on.
func (c *Client) LocationID() string { return c.loc }

// Calls is the number of HTTP requests the client has sent to the API (token endpoint calls
// excluded), retries included.
func (c *Client) Calls() int64 { return c.calls.Load() }

// Budget is the rate budget the client spends.
func (c *Client) Budget() *Budget { return c.budget }

// call describes one API request.
type call struct {
	op     string // HighLevel operationId: names the call in errors
	method string
	path   string // escaped
	query  url.Values
	body   any
	out    any
}

// do sends the call, retrying once with a new token after a 401 when the token source can
// produce one, and decodes a 2xx body into r.out.
func (c *Client) do(ctx context.Context, r call) error {
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return fmt.Errorf("ghl: %s: encode request: %w", r.op, err)
		}
	}
	for attempt := 0; ; attempt++ {
		token, err := c.auth.AccessToken(ctx)
		if err != nil {
			return fmt.Errorf("ghl: %s: %w", r.op, err)
		}
		status, body, err := c.send(ctx, r, payload, token)
		if err != nil {
			return err
		}
		if status == http.StatusUnauthorized && attempt == 0 && c.auth.Invalidate(ctx, token) {
			continue
		}
		if status < 200 || status > 299 {
			return body.err
		}
		if r.out == nil || len(bytes.TrimSpace(body.data)) == 0 {
			return nil
		}
		if err := json.Unmarshal(body.data, r.out); err != nil {
			return fmt.Errorf("ghl: %s: decode response: %w", r.op, err)
		}
		return nil
	}
}

type response struct {
	data []byte
	err  *APIError // set for non-2xx
}

func (c *Client) send(ctx context.Context, r call, payload []byte, token string) (int, response, error) {
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, rd)
	if err != nil {
		return 0, response{}, fmt.Errorf("ghl: %s: build request: %w", r.op, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Version", APIVersion)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	ticket, err := c.budget.Acquire(ctx, r.op)
	if err != nil {
		return 0, response{}, err
	}
	c.calls.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		ticket.Done(nil, 0)
		// *url.Error repeats the URL, whose query may hold a search term or e-mail.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, response{}, fmt.Errorf("ghl: %s: %s request failed: %w", r.op, r.method, err)
	}
	defer resp.Body.Close()
	wait := ticket.Done(resp.Header, resp.StatusCode)
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return 0, response{}, fmt.Errorf("ghl: %s: read response: %w", r.op, err)
	}
	if int64(len(data)) > c.maxBody {
		return 0, response{}, fmt.Errorf("ghl: %s: response larger than %d bytes", r.op, c.maxBody)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp.StatusCode, response{data: data}, nil
	}
	if wait == 0 {
		wait = retryAfterHeader(resp.Header, time.Now())
	}
	return resp.StatusCode, response{err: parseAPIError(r.op, resp.StatusCode, data, wait)}, nil
}

func pathf(format string, ids ...string) string {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = url.PathEscape(id)
	}
	return fmt.Sprintf(format, args...)
}

// requireIDs fails fast on empty ids: an empty path segment would hit a different endpoint.
func requireIDs(op string, ids ...string) error {
	for _, id := range ids {
		if strings.TrimSpace(id) == "" {
			return fmt.Errorf("ghl: %s: empty id", op)
		}
	}
	return nil
}
