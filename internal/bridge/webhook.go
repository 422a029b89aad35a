package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/store"
)

// Reasons a delivery is rejected, as the WebhookRejected metric labels them.
const (
	RejectMethod           = "method"
	RejectTooLarge         = "too_large"
	RejectUnreadable       = "unreadable"
	RejectNoSignature      = "signature_missing"
	RejectBadSignature     = "signature_invalid"
	RejectMalformed        = "malformed"
	RejectNoWebhookID      = "webhook_id_missing"
	RejectNoTimestamp      = "timestamp_missing"
	RejectStale            = "timestamp_stale"
	RejectFuture           = "timestamp_future"
	RejectStoreUnavailable = "store_unavailable"
	RejectContentType      = "content_type"
	RejectOverloaded       = "overloaded"
)

// SourceGHL is the inbox source of HighLevel webhooks.
const SourceGHL = "ghl"

// unknownTypeLabel is the metric label of event types this product does not know, so a
// stream of new HighLevel event types cannot grow the label set without bound.
const unknownTypeLabel = "unknown"

// retryAfterSeconds is the Retry-After of a 429 answered because the event could not be
// stored. HighLevel retries on its own schedule (about 10 minutes); the header says we want
// the event again, and soon.
const retryAfterSeconds = 60

// serveWebhook is POST /webhooks/ghl: verify, dedupe, persist, answer. Everything that needs
// an API or Temporal happens later in the relay, so this stays fast and cannot lose events.
func (b *Bridge) serveWebhook(w http.ResponseWriter, r *http.Request) {
	if !b.acceptRequest(w, r) {
		return
	}
	// A bounded number of requests in progress, so a flood (or many slow senders) cannot
	// exhaust memory, goroutines or the store's connection pool. The overflow is answered
	// 429: HighLevel sends it again later (ghl-facts.md §2).
	select {
	case b.inflight <- struct{}{}:
		defer func() { <-b.inflight }()
	default:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		b.reject(w, r, http.StatusTooManyRequests, RejectOverloaded, nil)
		return
	}
	body, env, scheme, ok := b.readVerified(w, r)
	if !ok {
		return
	}
	b.storeWebhook(w, r, env, body, scheme)
}

// acceptRequest refuses what cannot be one of HighLevel's webhooks before the body is read.
func (b *Bridge) acceptRequest(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		b.reject(w, r, http.StatusMethodNotAllowed, RejectMethod, nil)
		return false
	}
	// HighLevel posts JSON; anything else is not one of its webhooks.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		b.reject(w, r, http.StatusUnsupportedMediaType, RejectContentType, nil, "contentType", clip(r.Header.Get("Content-Type"), 100))
		return false
	}
	return true
}

// readVerified reads the body, verifies its signature, decodes it and refuses events
// without a storable id or outside the accepted age; ok is false once it has answered.
func (b *Bridge) readVerified(w http.ResponseWriter, r *http.Request) (body []byte, env ghl.Envelope, scheme ghl.Scheme, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			b.reject(w, r, http.StatusRequestEntityTooLarge, RejectTooLarge, nil)
		} else {
			b.reject(w, r, http.StatusBadRequest, RejectUnreadable, err)
		}
		return nil, ghl.Envelope{}, "", false
	}
	// The signature covers the exact bytes received; nothing is parsed before it verifies.
	scheme, err = ghl.VerifyWebhook(body, r.Header, b.keys)
	if errors.Is(err, ghl.ErrNoSignature) {
		b.reject(w, r, http.StatusUnauthorized, RejectNoSignature, nil)
		return nil, ghl.Envelope{}, "", false
	} else if err != nil {
		b.reject(w, r, http.StatusUnauthorized, RejectBadSignature, err, "scheme", string(scheme))
		return nil, ghl.Envelope{}, "", false
	}
	env, err = ghl.DecodeWebhook(body)
	if err != nil {
		b.reject(w, r, http.StatusBadRequest, RejectMalformed, err)
		return nil, ghl.Envelope{}, "", false
	}
	if env.WebhookID == "" {
		b.reject(w, r, http.StatusBadRequest, RejectNoWebhookID, nil)
		return nil, ghl.Envelope{}, "", false
	}
	// Ids become indexed text columns: a NUL byte or a huge id would make the insert fail on
	// every retry, so such an event is refused outright.
	if !storableID(env.WebhookID) || !storableID(env.LocationID) {
		b.reject(w, r, http.StatusBadRequest, RejectMalformed, errors.New("webhookId or locationId is not a storable id"))
		return nil, ghl.Envelope{}, "", false
	}
	// Replay protection: a webhookId we stored is a duplicate for as long as its inbox row
	// exists (nothing deletes inbox rows), and a signed event we never stored is refused once
	// its timestamp is older than MaxAge. MaxAge admits HighLevel's retries, which repeat the
	// original timestamp for up to about 70 minutes. Missing counts as stale: we cannot
	// bound its age.
	if env.Timestamp.IsZero() {
		b.reject(w, r, http.StatusUnauthorized, RejectNoTimestamp, nil)
		return nil, ghl.Envelope{}, "", false
	}
	now := b.now()
	if age := now.Sub(env.Timestamp); age > b.cfg.MaxAge {
		b.reject(w, r, http.StatusUnauthorized, RejectStale, nil, "webhookId", env.WebhookID, "age", age.Round(time.Second).String())
		return nil, ghl.Envelope{}, "", false
	} else if -age > b.cfg.MaxSkew {
		b.reject(w, r, http.StatusUnauthorized, RejectFuture, nil, "webhookId", env.WebhookID, "ahead", (-age).Round(time.Second).String())
		return nil, ghl.Envelope{}, "", false
	}
	return body, env, scheme, true
}

// storeWebhook stores a verified event in the inbox and answers with its state.
func (b *Bridge) storeWebhook(w http.ResponseWriter, r *http.Request, env ghl.Envelope, body []byte, scheme ghl.Scheme) {
	// HighLevel sends an event again only after a 429 (every other answer, 5xx included,
	// is final), so whenever the event cannot be stored durably the answer is 429.
	ctx, cancel := context.WithTimeout(r.Context(), b.cfg.StoreTimeout)
	defer cancel()
	row, status, err := b.classify(ctx, env)
	if err != nil {
		b.unavailable(w, r, env, "look up connection", err)
		return
	}
	row.DedupeKey, row.Source, row.Body, row.ReceivedAt = env.WebhookID, SourceGHL, body, store.Now()
	id, inserted, err := b.store.InsertInbox(ctx, row)
	if err != nil {
		b.unavailable(w, r, env, "store event", err)
		return
	}
	if !inserted {
		b.metrics.WebhookDupes.Inc()
		b.log.Debug("webhook: duplicate", "webhookId", env.WebhookID, "locationId", env.LocationID, "type", row.EventType)
		writeJSON(w, http.StatusOK, "duplicate")
		return
	}
	b.metrics.WebhookReceived.WithLabelValues(typeLabel(env)).Inc()
	if row.State == store.InboxPending {
		b.nudge()
	}
	level := b.log.Debug
	if row.State == store.InboxOrphaned {
		level = b.log.Warn // an operator should look at it
	}
	level("webhook: stored", "inboxId", id, "webhookId", env.WebhookID, "locationId", env.LocationID,
		"type", row.EventType, "state", string(row.State), "note", row.Note, "scheme", string(scheme))
	writeJSON(w, status, string(row.State))
}

// classify decides the row's initial state and the HTTP status. Only what the HTTP answer
// depends on is decided here (unknown location → 202); the rest is the relay's job.
func (b *Bridge) classify(ctx context.Context, env ghl.Envelope) (store.InboxEvent, int, error) {
	row := store.InboxEvent{EventType: env.Type, LocationID: env.LocationID, State: store.InboxPending}
	if env.Payload == nil {
		row.EventType = clip(strings.ReplaceAll(env.RawType, "\x00", ""), 100)
		row.State, row.Note = store.InboxIgnored, "unknown event type"
		return row, http.StatusOK, nil
	}
	if env.Type == ghl.EventAppInstall || env.Type == ghl.EventAppUninstall {
		if why := b.notOurApp(env); why != "" {
			// Acknowledged (HighLevel would otherwise retry it) and kept, but never acted on.
			b.log.Warn("webhook: app event ignored", "type", env.RawType, "webhookId", env.WebhookID, "locationId", env.LocationID, "reason", why)
			row.State, row.Note = store.InboxIgnored, why
			return row, http.StatusOK, nil
		}
		if env.Type == ghl.EventAppInstall {
			// The relay creates the connections: of locationId, or of each of a bulk
			// install's locationIds.
			return row, http.StatusOK, nil
		}
		if env.LocationID == "" {
			row.State, row.Note = store.InboxIgnored, "agency-level app event"
			return row, http.StatusOK, nil
		}
	}
	if env.LocationID == "" {
		row.State, row.Note = store.InboxOrphaned, "event has no locationId"
		return row, http.StatusAccepted, nil
	}
	if _, err := b.store.ConnectionByLocation(ctx, env.LocationID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			row.State, row.Note = store.InboxOrphaned, "no connection for location"
			return row, http.StatusAccepted, nil
		}
		return row, 0, err
	}
	return row, http.StatusOK, nil
}

// unavailable answers a delivery the store could not take (down, pool exhausted, too slow)
// with 429 and Retry-After: HighLevel retries that answer, and only that one.
func (b *Bridge) unavailable(w http.ResponseWriter, r *http.Request, env ghl.Envelope, step string, err error) {
	b.log.Error("webhook: "+step+"; answered 429 so HighLevel retries", "webhookId", env.WebhookID, "locationId", env.LocationID, "error", err)
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	b.reject(w, r, http.StatusTooManyRequests, RejectStoreUnavailable, nil)
}

// reject answers a refused delivery and counts it. The body is never logged: it is personal
// data, and an unverified one is attacker-controlled.
func (b *Bridge) reject(w http.ResponseWriter, r *http.Request, status int, reason string, err error, attrs ...any) {
	b.metrics.WebhookRejected.WithLabelValues(reason).Inc()
	args := append([]any{"reason", reason, "status", status, "remote", r.RemoteAddr, "contentLength", r.ContentLength}, attrs...)
	if err != nil {
		args = append(args, "error", err)
	}
	b.log.Warn("webhook: rejected", args...)
	writeJSON(w, status, reason)
}

func writeJSON(w http.ResponseWriter, status int, result string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"result": result})
}

func typeLabel(env ghl.Envelope) string {
	if env.Payload == nil {
		return unknownTypeLabel
	}
	return env.Type
}

// maxIDLen bounds ids taken from a payload; HighLevel's are 20 to 36 characters.
const maxIDLen = 256

func storableID(s string) bool {
	return len(s) <= maxIDLen && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// clip shortens s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
