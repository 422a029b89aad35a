package ghl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Sentinel errors. Every error the client returns for an HTTP answer is an *APIError that
// matches exactly one of these with errors.Is (ErrDuplicateContact also matches ErrValidation).
var (
	ErrNotFound         = errors.New("ghl: not found")
	ErrValidation       = errors.New("ghl: request rejected as invalid")
	ErrDuplicateContact = errors.New("ghl: duplicate contact")
	ErrUnauthorized     = errors.New("ghl: unauthorized")
	ErrForbidden        = errors.New("ghl: forbidden")
	ErrRateLimited      = errors.New("ghl: rate limited")
	ErrServer           = errors.New("ghl: server error")
	// ErrReconnectRequired means HighLevel rejected the connection's refresh token: only a new
	// install (authorization code) can fix it, so retrying is pointless.
	ErrReconnectRequired = errors.New("ghl: reconnect required")
)

// APIError is a non-2xx answer from HighLevel, or a local decision (Status 0): the rate budget
// refusing to send, or FindTaskContact concluding from a complete search that a task is gone.
// Its text never contains tokens, and HighLevel's message is stripped of e-mail addresses and
// phone numbers because HighLevel echoes request values in validation messages.
type APIError struct {
	Op      string // HighLevel operation id, e.g. "get-contact"
	Status  int    // HTTP status; 0 for a local decision
	Message string // HighLevel's message, redacted
	// DuplicateContactID is the existing contact HighLevel named when it refused a duplicate.
	DuplicateContactID string
	DuplicateField     string // "email" or "phone", when HighLevel said
	TraceID            string

	kind       error
	retryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("ghl: ")
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.kind.Error(), "ghl: "))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.retryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.retryAfter.Round(time.Millisecond))
	}
	return b.String()
}

// Is matches the sentinel for the error's kind.
func (e *APIError) Is(target error) bool {
	return target == e.kind || (target == ErrValidation && e.kind == ErrDuplicateContact)
}

// Kind returns the sentinel this error matches.
func (e *APIError) Kind() error { return e.kind }

// Retryable reports whether sending the same request later can succeed.
func (e *APIError) Retryable() bool { return e.kind == ErrRateLimited || e.kind == ErrServer }

// RetryAfter is how long to wait before retrying; zero when HighLevel gave no hint.
func (e *APIError) RetryAfter() time.Duration { return e.retryAfter }

// OAuthError is a failed call to the token endpoint. It carries the RFC 6749 error code but
// never the response body, which may echo credentials.
type OAuthError struct {
	Op     string // "exchange", "refresh" or "locationToken"
	Status int    // 0 for transport failures
	Code   string // RFC 6749 error code, e.g. "invalid_grant"; "" when the body had none
	// Shape names the documented error body the endpoint answered with: ShapeRFC6749,
	// ShapeBadRequestDTO or ShapeUnauthorizedDTO; "" when it was none of them.
	Shape string
	Err   error // transport or decoding failure, when Status is 0
}

// Error body shapes of HighLevel's token endpoint (ghl-facts.md §5).
const (
	ShapeRFC6749         = "rfc6749"         // {"error":"invalid_grant",…}
	ShapeBadRequestDTO   = "BadRequestDTO"   // {"statusCode":400,"message":"…"[,"error":"Bad Request"]}
	ShapeUnauthorizedDTO = "UnauthorizedDTO" // {"statusCode":401,"message":"…","error":"Unauthorized"}
)

func (e *OAuthError) Error() string {
	var detail []string
	if e.Shape != "" && e.Shape != ShapeRFC6749 {
		detail = append(detail, e.Shape)
	}
	if e.Code != "" {
		detail = append(detail, e.Code)
	}
	switch {
	case e.Status == 0 && e.Err != nil:
		return fmt.Sprintf("ghl oauth: %s: %v", e.Op, e.Err)
	case len(detail) > 0:
		return fmt.Sprintf("ghl oauth: %s: token endpoint answered HTTP %d (%s)", e.Op, e.Status, strings.Join(detail, ", "))
	default:
		return fmt.Sprintf("ghl oauth: %s: token endpoint answered HTTP %d", e.Op, e.Status)
	}
}

func (e *OAuthError) Unwrap() error { return e.Err }

// InvalidGrant reports whether the token endpoint refused the code or refresh token itself:
// HTTP 400 or 401 with RFC 6749's invalid_grant, or with HighLevel's BadRequestDTO or
// UnauthorizedDTO body, which carry no RFC code at all (ghl-facts.md §5). An RFC code naming
// another problem (invalid_client, invalid_request, …) is the app's configuration, not the
// grant, and does not count.
func (e *OAuthError) InvalidGrant() bool {
	if e.Status != 400 && e.Status != 401 {
		return false
	}
	switch e.Shape {
	case ShapeRFC6749:
		return e.Code == "invalid_grant"
	case ShapeBadRequestDTO, ShapeUnauthorizedDTO:
		return e.Code == "" || e.Code == "invalid_grant"
	}
	return false
}

// Retryable reports whether the same token request can succeed later.
func (e *OAuthError) Retryable() bool {
	return e.Status == 0 || e.Status == 429 || e.Status >= 500
}

// ReconnectError says a connection needs a new install. It matches ErrReconnectRequired.
type ReconnectError struct {
	ConnectionID string
	Reason       string

	version int64 // the stored token's version the error is about, when known
}

func (e *ReconnectError) Error() string {
	return fmt.Sprintf("ghl: connection %s must be reconnected (install the app again): %s", e.ConnectionID, e.Reason)
}

func (e *ReconnectError) Is(target error) bool { return target == ErrReconnectRequired }

// Retryable is false: only an operator can fix this.
func (e *ReconnectError) Retryable() bool { return false }

// Retryable reports whether retrying the operation that returned err can help. Errors the
// client did not classify (transport failures, timeouts) count as retryable; cancellation and
// ErrReconnectRequired do not.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, ErrReconnectRequired) {
		return false
	}
	return true
}

// RetryAfter returns the wait HighLevel (or the budget) asked for, if err carries one.
// Activities turn it into Temporal's NextRetryDelay.
func RetryAfter(err error) (time.Duration, bool) {
	var e *APIError
	if errors.As(err, &e) && e.retryAfter > 0 {
		return e.retryAfter, true
	}
	return 0, false
}

// DuplicateContactID returns the id of the existing contact when err is HighLevel refusing
// to create a duplicate.
func DuplicateContactID(err error) (string, bool) {
	var e *APIError
	if errors.As(err, &e) && e.kind == ErrDuplicateContact && e.DuplicateContactID != "" {
		return e.DuplicateContactID, true
	}
	return "", false
}

// errorBody is HighLevel's error shape (common-schemas.json), plus the duplicate-contact meta
// and RFC 6749 fields some endpoints add.
type errorBody struct {
	StatusCode int             `json:"statusCode"`
	Message    json.RawMessage `json:"message"` // string, or []string for 422
	Error      string          `json:"error"`
	TraceID    string          `json:"traceId"`
	Meta       struct {
		ContactID     string `json:"contactId"`
		MatchingField string `json:"matchingField"`
	} `json:"meta"`
}

// parseAPIError classifies a non-2xx response. body may be anything, including empty.
func parseAPIError(op string, status int, body []byte, retryAfter time.Duration) *APIError {
	e := &APIError{Op: op, Status: status}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		e.Message = redact(messageText(eb.Message))
		if e.Message == "" {
			e.Message = redact(eb.Error)
		}
		e.TraceID = eb.TraceID
		e.DuplicateContactID = eb.Meta.ContactID
		e.DuplicateField = eb.Meta.MatchingField
	}
	lower := strings.ToLower(e.Message)
	switch {
	case status == 429:
		e.kind = ErrRateLimited
		e.retryAfter = retryAfter
	case status == 408 || status >= 500:
		e.kind = ErrServer
		e.retryAfter = retryAfter
	case status == 401:
		e.kind = ErrUnauthorized
	case status == 403:
		e.kind = ErrForbidden
	case status == 404:
		e.kind = ErrNotFound
	case status == 400 && (e.DuplicateContactID != "" || strings.Contains(lower, "duplicated contact")):
		e.kind = ErrDuplicateContact
	case status == 400 && strings.Contains(lower, "not found"):
		// HighLevel answers some lookups of missing records with 400 rather than 404.
		e.kind = ErrNotFound
	default:
		e.kind = ErrValidation
	}
	return e
}

func messageText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, "; ")
	}
	return ""
}

var (
	emailRe = regexp.MustCompile(`[^\s@"'<>,;:]+@[^\s@"'<>,;:]+`)
	phoneRe = regexp.MustCompile(`\+?\d[\d\s().-]{5,}\d`)
)

// maxMessage bounds how much of HighLevel's message ends up in logs and Temporal histories.
const maxMessage = 300

// redact removes e-mail addresses and phone numbers (HighLevel echoes them in messages) and
// bounds the length.
func redact(s string) string {
	s = emailRe.ReplaceAllString(s, "<email>")
	s = phoneRe.ReplaceAllString(s, "<number>")
	if len(s) > maxMessage {
		s = strings.ToValidUTF8(s[:maxMessage], "") + "…"
	}
	return s
}
