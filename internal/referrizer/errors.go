package referrizer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind classifies a failed call by what the caller can do about it.
type Kind string

const (
	KindNotFound     Kind = "not_found"    // 404
	KindValidation   Kind = "validation"   // 400/413/422 other than the duplicate codes
	KindDuplicate    Kind = "duplicate"    // RESOURCE_ALREADY_EXISTS, NOT_UNIQUE, CONTACT_ALREADY_CHECKED_IN, 409
	KindUnauthorized Kind = "unauthorized" // 401/403: the token is wrong or revoked
	KindRateLimited  Kind = "rate_limited" // 429, or the client backing off after one
	KindServer       Kind = "server"       // 5xx, 408
	KindNetwork      Kind = "network"      // no response: connection, timeout, cancellation
	KindDecode       Kind = "decode"       // a success response the client cannot read
	KindUnexpected   Kind = "unexpected"   // any other status
)

// Sentinels for errors.Is: errors.Is(err, ErrNotFound) matches any *Error of that Kind.
var (
	ErrNotFound     = &Error{Kind: KindNotFound}
	ErrValidation   = &Error{Kind: KindValidation}
	ErrDuplicate    = &Error{Kind: KindDuplicate}
	ErrUnauthorized = &Error{Kind: KindUnauthorized}
	ErrRateLimited  = &Error{Kind: KindRateLimited}
	ErrServer       = &Error{Kind: KindServer}
	ErrNetwork      = &Error{Kind: KindNetwork}
)

// Error is what every Client method returns when a call fails. It never holds the token,
// request bodies or query strings; Message is Referrizer's own text with anything shaped
// like an email, phone number or date redacted, since servers like to echo input back.
type Error struct {
	Kind       Kind
	Op         string // what the client was doing, e.g. "update contact"
	StatusCode int    // 0 when there was no response
	Code       string // Referrizer's errorCode (or code)
	Message    string
	wait       time.Duration
	err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("referrizer: ")
	if e.Op != "" {
		b.WriteString(e.Op + ": ")
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "%d ", e.StatusCode)
	}
	if e.Code != "" {
		b.WriteString(e.Code + " ")
	}
	b.WriteString("(" + string(e.Kind) + ")")
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.err != nil {
		b.WriteString(": " + e.err.Error())
	}
	if e.wait > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.wait)
	}
	return b.String()
}

// Unwrap returns the cause of a network or decode error (e.g. context.DeadlineExceeded).
func (e *Error) Unwrap() error { return e.err }

// Is matches the Kind sentinels.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.StatusCode == 0 && t.Code == "" && t.err == nil && t.Kind == e.Kind
}

// Retryable reports whether the same call may succeed later without anyone changing
// anything: rate limits, server errors and lost connections. A cancelled context is not.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindRateLimited, KindServer:
		return true
	case KindNetwork:
		return !errors.Is(e.err, context.Canceled)
	}
	return false
}

// RetryAfter is how long the server asked us to wait (Retry-After, in seconds or as an HTTP
// date); 0 means it gave no hint and the caller's own backoff applies.
func (e *Error) RetryAfter() time.Duration { return e.wait }

// duplicateCodes are 400 codes that mean "this already exists": callers usually look the
// existing thing up rather than give up.
var duplicateCodes = map[string]bool{
	"RESOURCE_ALREADY_EXISTS":    true,
	"NOT_UNIQUE":                 true,
	"CONTACT_ALREADY_CHECKED_IN": true,
}

func classify(status int, code string) Kind {
	switch {
	case duplicateCodes[code] || status == http.StatusConflict:
		return KindDuplicate
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return KindUnauthorized
	case status == http.StatusNotFound:
		return KindNotFound
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case status == http.StatusRequestTimeout || status >= 500:
		return KindServer
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge || status == http.StatusUnprocessableEntity:
		return KindValidation
	}
	return KindUnexpected
}

// decodeError builds the error for a non-2xx response. It accepts {"errorCode": ...}
// (official docs), {"code": ...} (derived spec), {"error": "..."} and
// {"error": {"code": ..., "message": ...}}, and anything else (HTML from a proxy, empty
// bodies) as a bare status.
func decodeError(op string, status int, header http.Header, body []byte, now time.Time) *Error {
	e := &Error{Op: op, StatusCode: status}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil {
		e.Code = firstText(obj, "errorCode", "code")
		e.Message = firstText(obj, "message", "detail", "error_description")
		var nested map[string]json.RawMessage
		if raw, ok := obj["error"]; ok {
			if json.Unmarshal(raw, &nested) == nil {
				if e.Code == "" {
					e.Code = firstText(nested, "errorCode", "code")
				}
				if e.Message == "" {
					e.Message = firstText(nested, "message")
				}
			} else if e.Message == "" {
				e.Message = firstText(obj, "error")
			}
		}
	}
	e.Code = sanitizeCode(e.Code)
	e.Message = redact(e.Message)
	e.Kind = classify(status, e.Code)
	if v := header.Get("Retry-After"); v != "" {
		e.wait, _ = parseRetryAfter(v, now)
	}
	return e
}

// firstText returns the first key holding a string or number, as text.
func firstText(obj map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		raw := bytes.TrimSpace(obj[k])
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
	}
	return ""
}

// sanitizeCode keeps codes to the CAPS_CONSTANT alphabet so a hostile or odd body cannot
// put arbitrary text (or personal data) into the error string through the code.
func sanitizeCode(code string) string {
	if len(code) > 64 {
		return ""
	}
	for _, r := range code {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return ""
		}
	}
	return code
}

var (
	emailLike = regexp.MustCompile(`[^\s@"'<>(),;:\[\]]+@[^\s@"'<>(),;:\[\]]+`)
	// Seven or more digits with phone or date punctuation in between.
	numberLike = regexp.MustCompile(`\+?\d[\d\s().\-/]{5,}\d`)
)

const maxMessageLen = 300

// redact strips what looks like personal data from a server message and bounds its length.
func redact(msg string) string {
	msg = strings.ToValidUTF8(msg, "")
	msg = emailLike.ReplaceAllString(msg, "[redacted]")
	msg = numberLike.ReplaceAllString(msg, "[redacted]")
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > maxMessageLen {
		cut := maxMessageLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// maxRetryAfter bounds a server's wait so a typo on their side cannot park a sync for days.
const maxRetryAfter = time.Hour

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		return 0, true
	case d > maxRetryAfter:
		return maxRetryAfter, true
	}
	return d, true
}
