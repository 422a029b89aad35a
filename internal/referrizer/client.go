package referrizer

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

	"golang.org/x/time/rate"
)

const (
	// DefaultBaseURL is Referrizer's production API.
	DefaultBaseURL = "https://api.referrizer.com"
	// DefaultRateLimit is the client-side request rate per Client, in requests per second.
	// Referrizer's limits are unknown, so the default is polite.
	DefaultRateLimit = 5
	// DefaultTimeout bounds one HTTP call when no *http.Client is given; the caller's
	// context (an activity's timeout) still applies on top.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxResponseBytes bounds every response body the client reads.
	DefaultMaxResponseBytes = 8 << 20
	// MaxPerPage is the largest page Referrizer serves (and the client's default).
	MaxPerPage = 100
)

// Client calls the Referrizer API for one account (one API token). It is safe for
// concurrent use; share one per connection so the rate limit and the 429 backoff are shared.
//
// The client does not retry: the sync runs on Temporal, which retries activities with
// backoff. Errors say whether a retry can help (Error.Retryable) and how long to wait
// (Error.RetryAfter).
type Client struct {
	base    *url.URL
	token   string
	hc      *http.Client
	limiter *rate.Limiter // nil: unlimited
	maxBody int64
	now     func() time.Time

	calls        atomic.Int64
	backoffUntil atomic.Int64 // unix nanoseconds; set by a 429 carrying Retry-After

	fields fieldCache
}

// Option configures a Client.
type Option func(*config)

type config struct {
	baseURL string
	hc      *http.Client
	rps     float64
	burst   int
	maxBody int64
}

// WithBaseURL points the client at another server (the simulator in dev and tests).
func WithBaseURL(u string) Option { return func(c *config) { c.baseURL = u } }

// WithHTTPClient sets the HTTP client (timeouts, transport, proxies).
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.hc = hc } }

// WithRateLimit sets the client-side request rate in requests per second and its burst;
// perSecond 0 means unlimited. Calls wait for their turn (honouring the context).
func WithRateLimit(perSecond float64, burst int) Option {
	return func(c *config) { c.rps, c.burst = perSecond, burst }
}

// WithMaxResponseBytes bounds response bodies (default DefaultMaxResponseBytes).
func WithMaxResponseBytes(n int64) Option { return func(c *config) { c.maxBody = n } }

// New returns a client for the account owning token.
func New(token string, opts ...Option) (*Client, error) {
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("referrizer: empty API token")
	}
	cfg := config{baseURL: DefaultBaseURL, rps: DefaultRateLimit, burst: 1, maxBody: DefaultMaxResponseBytes}
	for _, o := range opts {
		o(&cfg)
	}
	base, err := url.Parse(cfg.baseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("referrizer: base URL must be http(s)://host[/path], got %q", cfg.baseURL)
	}
	if cfg.hc == nil {
		cfg.hc = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.maxBody <= 0 {
		cfg.maxBody = DefaultMaxResponseBytes
	}
	if cfg.rps < 0 {
		return nil, fmt.Errorf("referrizer: negative rate limit %v", cfg.rps)
	}
	c := &Client{base: base, token: token, hc: cfg.hc, maxBody: cfg.maxBody, now: time.Now}
	c.fields.sem = make(chan struct{}, 1)
	if cfg.rps > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.rps), max(cfg.burst, 1))
	}
	return c, nil
}

// Calls returns how many HTTP requests this client has sent (benchmarks report calls per
// person). Calls refused locally (bad arguments, 429 backoff) are not counted.
func (c *Client) Calls() int64 { return c.calls.Load() }

// String keeps the token out of %v and %+v.
func (c *Client) String() string { return "referrizer.Client(" + c.base.String() + ")" }

// GoString keeps the token out of %#v.
func (c *Client) GoString() string { return c.String() }

// request describes one call.
type request struct {
	op     string
	method string
	path   string // under the base URL, e.g. "/v1/contacts"
	query  url.Values
	body   any // JSON-encoded unless it is a []byte
}

// do sends one request and decodes a 2xx body into out (if out is non-nil and the body is
// not empty). It returns the response headers for list totals.
func (c *Client) do(ctx context.Context, r request, out any) (http.Header, error) {
	if until := c.backoffUntil.Load(); until != 0 {
		// After a 429 with Retry-After, wait that out before sending instead of spending more
		// of the account's budget (and more 429s) on calls bound to fail. A wait longer than
		// the caller's deadline is refused at once, with the wait, so an activity reschedules.
		if wait := time.Unix(0, until).Sub(c.now()); wait > 0 {
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				return nil, &Error{Kind: KindRateLimited, Op: r.op, Message: "backing off after 429", wait: wait}
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, &Error{Kind: KindNetwork, Op: r.op, err: fmt.Errorf("waiting out a 429: %w", contextCause(ctx, ctx.Err()))}
			case <-t.C:
			}
		}
	}
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, &Error{Kind: KindNetwork, Op: r.op, err: fmt.Errorf("waiting for rate limiter: %w", contextCause(ctx, err))}
		}
	}
	var body io.Reader
	if r.body != nil {
		raw, ok := r.body.([]byte)
		if !ok {
			var err error
			if raw, err = json.Marshal(r.body); err != nil {
				return nil, &Error{Kind: KindValidation, Op: r.op, err: fmt.Errorf("encode request: %w", err)}
			}
		}
		body = bytes.NewReader(raw)
	}
	u := c.base.JoinPath(r.path)
	u.RawQuery = r.query.Encode()
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, &Error{Kind: KindValidation, Op: r.op, err: errors.New("cannot build request")}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.calls.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &Error{Kind: KindNetwork, Op: r.op, err: stripURL(ctx, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, &Error{Kind: KindNetwork, Op: r.op, StatusCode: resp.StatusCode, err: stripURL(ctx, err)}
	}
	if int64(len(data)) > c.maxBody {
		return nil, &Error{Kind: KindDecode, Op: r.op, StatusCode: resp.StatusCode, Message: fmt.Sprintf("response body exceeds %d bytes", c.maxBody)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := decodeError(r.op, resp.StatusCode, resp.Header, data, c.now())
		if e.Kind == KindRateLimited && e.wait > 0 {
			c.backoffUntil.Store(c.now().Add(e.wait).UnixNano())
		}
		if e.Code == "INVALID_CUSTOM_FIELD_NAME" {
			c.fields.forget() // a field we cached may have been deleted or renamed in Referrizer
		}
		return nil, e
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, &Error{Kind: KindDecode, Op: r.op, StatusCode: resp.StatusCode, err: err}
		}
	}
	return resp.Header, nil
}

// stripURL drops the *url.Error wrapper, whose text repeats the URL with its query (which
// can hold an email or phone filter), keeping the cause.
func stripURL(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return contextCause(ctx, err)
}

// contextCause prefers the context's error when the context ended, so callers can test
// errors.Is(err, context.Canceled).
func contextCause(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w (%v)", ctxErr, err)
	}
	return err
}

// validateID rejects ids that cannot be a Referrizer id before they reach a URL.
func validateID(op, what, id string) error {
	ok := id != "" && len(id) <= 128
	for _, r := range id {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}
	if !ok {
		return &Error{Kind: KindValidation, Op: op, Message: what + " id is empty or malformed"}
	}
	return nil
}
