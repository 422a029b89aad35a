package bridge_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/bridge"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/postgres"
	"github.com/hlrz/hlrz/internal/testutil/pgtest"
)

// ed is an X-GHL-Signature header, legacy an X-WH-Signature header, both headers together.
func ed(sig string) http.Header { return http.Header{ghl.SignatureHeader: {sig}} }

func legacy(sig string) http.Header { return http.Header{ghl.LegacySignatureHeader: {sig}} }

func both(edSig, legacySig string) http.Header {
	return http.Header{ghl.SignatureHeader: {edSig}, ghl.LegacySignatureHeader: {legacySig}}
}

func TestWebhookRejectsBadInput(t *testing.T) {
	f := newFixture(t, nil)
	contact := func(fields map[string]any) []byte {
		base := map[string]any{"id": "c1"}
		for k, v := range fields {
			base[k] = v
		}
		return payload("ContactCreate", testLocation, base)
	}
	tamper := func(b []byte) []byte { return bytes.Replace(b, []byte(`"c1"`), []byte(`"c2"`), 1) }
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, n)) }
	huge := contact(map[string]any{"companyName": strings.Repeat("x", bridge.MaxBodyBytes)})
	cases := []struct {
		name   string
		body   []byte
		hdr    func(body []byte) http.Header // default: a valid X-GHL-Signature
		method string
		want   int
		reason string
	}{
		{name: "missing signature", body: contact(nil), hdr: func([]byte) http.Header { return nil }, want: 401, reason: bridge.RejectNoSignature},
		{name: "blank signature headers", body: contact(nil), hdr: func([]byte) http.Header { return both(" ", "") }, want: 401, reason: bridge.RejectNoSignature},
		{name: "Ed25519 by an unknown key", body: contact(nil), hdr: func(b []byte) http.Header { return ed(sign(otherKey(), b)) }, want: 401, reason: bridge.RejectBadSignature},
		{name: "RSA by an unknown key", body: contact(nil), hdr: func(b []byte) http.Header { return legacy(signLegacy(otherLegacyKey(), b)) }, want: 401, reason: bridge.RejectBadSignature},
		{name: "Ed25519 not base64", body: contact(nil), hdr: func([]byte) http.Header { return ed("!!not-base64!!") }, want: 401, reason: bridge.RejectBadSignature},
		{name: "RSA not base64", body: contact(nil), hdr: func([]byte) http.Header { return legacy("!!not-base64!!") }, want: 401, reason: bridge.RejectBadSignature},
		{name: "Ed25519 of 63 bytes", body: contact(nil), hdr: func([]byte) http.Header { return ed(b64(63)) }, want: 401, reason: bridge.RejectBadSignature},
		{name: "Ed25519 of 65 bytes", body: contact(nil), hdr: func([]byte) http.Header { return ed(b64(65)) }, want: 401, reason: bridge.RejectBadSignature},
		{name: "Ed25519 of the right length but wrong", body: contact(nil), hdr: func([]byte) http.Header { return ed(b64(64)) }, want: 401, reason: bridge.RejectBadSignature},
		{name: "Ed25519: body changed after signing", body: contact(nil), hdr: func(b []byte) http.Header { return ed(sign(testKey(), tamper(b))) }, want: 401, reason: bridge.RejectBadSignature},
		{name: "RSA: body changed after signing", body: contact(nil), hdr: func(b []byte) http.Header { return legacy(signLegacy(legacyKey(), tamper(b))) }, want: 401, reason: bridge.RejectBadSignature},
		// HighLevel's SDK order: a present X-GHL-Signature alone decides, no fallback.
		{name: "valid RSA with an invalid Ed25519", body: contact(nil), hdr: func(b []byte) http.Header {
			return both(sign(otherKey(), b), signLegacy(legacyKey(), b))
		}, want: 401, reason: bridge.RejectBadSignature},
		{name: "valid RSA with a malformed Ed25519", body: contact(nil), hdr: func(b []byte) http.Header {
			return both("%%%", signLegacy(legacyKey(), b))
		}, want: 401, reason: bridge.RejectBadSignature},
		{name: "stale timestamp", body: contact(map[string]any{"timestamp": time.Now().Add(-76 * time.Minute).UTC().Format(time.RFC3339)}), want: 401, reason: bridge.RejectStale},
		{name: "future timestamp", body: contact(map[string]any{"timestamp": time.Now().Add(6 * time.Minute).UTC().Format(time.RFC3339)}), want: 401, reason: bridge.RejectFuture},
		{name: "missing timestamp", body: contact(map[string]any{"timestamp": nil}), want: 401, reason: bridge.RejectNoTimestamp},
		{name: "malformed JSON", body: []byte(`{"type":"ContactCreate","webhookId":"x",`), want: 400, reason: bridge.RejectMalformed},
		{name: "JSON array", body: []byte(`[1,2,3]`), want: 400, reason: bridge.RejectMalformed},
		{name: "no type", body: contact(map[string]any{"type": nil}), want: 400, reason: bridge.RejectMalformed},
		{name: "missing webhookId", body: contact(map[string]any{"webhookId": nil}), want: 400, reason: bridge.RejectNoWebhookID},
		{name: "webhookId with NUL", body: contact(map[string]any{"webhookId": "a\x00b"}), want: 400, reason: bridge.RejectMalformed},
		{name: "body over 1 MiB", body: huge, want: 413, reason: bridge.RejectTooLarge},
		{name: "GET", method: http.MethodGet, want: 405, reason: bridge.RejectMethod},
		{name: "PUT", method: http.MethodPut, body: contact(nil), want: 405, reason: bridge.RejectMethod},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := value(t, f.metrics.WebhookRejected.WithLabelValues(tc.reason))
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, f.srv.URL+"/webhooks/ghl", bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			hdr := ed(sign(testKey(), tc.body))
			if tc.hdr != nil {
				hdr = tc.hdr(tc.body)
			}
			req.Header.Set("Content-Type", "application/json")
			for k, v := range hdr {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 405 && resp.Header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", resp.Header.Get("Allow"))
			}
			if got := value(t, f.metrics.WebhookRejected.WithLabelValues(tc.reason)) - before; got != 1 {
				t.Errorf("rejected{reason=%s} grew by %v, want 1", tc.reason, got)
			}
		})
	}
	if n := total(f.inboxCounts()); n != 0 {
		t.Errorf("rejected deliveries stored %d inbox rows, want 0", n)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "reason="+bridge.RejectBadSignature) {
		t.Errorf("a rejected signature is not logged:\n%s", logs)
	}
}

// TestWebhookSignatureSchemes: an Ed25519 X-GHL-Signature by a trusted key is accepted, and
// so is a body with only an RSA X-WH-Signature by a trusted RSA key; with both headers the
// Ed25519 one decides, whatever the RSA one says.
func TestWebhookSignatureSchemes(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name   string
		hdr    func(body []byte) http.Header
		scheme ghl.Scheme
	}{
		{"valid Ed25519", func(b []byte) http.Header { return ed(sign(testKey(), b)) }, ghl.SchemeEd25519},
		{"valid RSA only", func(b []byte) http.Header { return legacy(signLegacy(legacyKey(), b)) }, ghl.SchemeRSA},
		{"both valid", func(b []byte) http.Header { return both(sign(testKey(), b), signLegacy(legacyKey(), b)) }, ghl.SchemeEd25519},
		{"valid Ed25519, invalid RSA", func(b []byte) http.Header { return both(sign(testKey(), b), "bm90IGEgc2lnbmF0dXJl") }, ghl.SchemeEd25519},
		{"valid Ed25519, unpadded base64", func(b []byte) http.Header {
			return ed(strings.TrimRight(sign(testKey(), b), "="))
		}, ghl.SchemeEd25519},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := payload("ContactUpdate", testLocation, map[string]any{"id": "c1"})
			if resp := f.postHeaders(body, tc.hdr(body)); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if row := f.inboxByKey(webhookID(t, body)); !bytes.Equal(row.Body, body) {
				t.Errorf("stored body differs from the signed one")
			}
			if logs := f.logs.String(); !strings.Contains(logs, webhookID(t, body)) || !strings.Contains(logs, "scheme="+string(tc.scheme)) {
				t.Errorf("no stored line with scheme=%s for %s", tc.scheme, webhookID(t, body))
			}
		})
	}
}

func TestWebhookTimestampWindow(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	f := newFixture(t, func(c *bridge.Config) { c.Now = func() time.Time { return now } })
	at := func(off time.Duration) []byte {
		return payload("ContactUpdate", testLocation, map[string]any{"id": "c1", "timestamp": now.Add(off).Format(time.RFC3339Nano)})
	}
	// HighLevel's last retry repeats a timestamp up to about 70 minutes old.
	for _, off := range []time.Duration{-74 * time.Minute, -10 * time.Minute, 0, 4 * time.Minute} {
		if resp := f.post(at(off)); resp.StatusCode != http.StatusOK {
			t.Errorf("timestamp %s from now: status %d, want 200", off, resp.StatusCode)
		}
	}
	for _, off := range []time.Duration{-76 * time.Minute, 6 * time.Minute} {
		if resp := f.post(at(off)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("timestamp %s from now: status %d, want 401", off, resp.StatusCode)
		}
	}

	g := newFixture(t, func(c *bridge.Config) {
		c.Now = func() time.Time { return now }
		c.MaxAge, c.MaxSkew = 10*time.Minute, time.Minute
	})
	for off, want := range map[time.Duration]int{-9 * time.Minute: 200, -11 * time.Minute: 401, 50 * time.Second: 200, 70 * time.Second: 401} {
		body := payload("ContactUpdate", testLocation, map[string]any{"id": "c1", "timestamp": now.Add(off).Format(time.RFC3339Nano)})
		if resp := g.post(body); resp.StatusCode != want {
			t.Errorf("MaxAge 10m, MaxSkew 1m, timestamp %s from now: status %d, want %d", off, resp.StatusCode, want)
		}
	}
}

// TestWebhookReplayAroundTheWindow: a correctly signed event replayed just inside the
// timestamp window is recognised by its webhookId (acknowledged, not stored or signalled
// again); just outside it is refused by its age. The inbox row that remembers the
// webhookId is still there after the window.
func TestWebhookReplayAroundTheWindow(t *testing.T) {
	sent := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	set := func(d time.Duration) { at := sent.Add(d); clock.Store(&at) }
	set(time.Second)
	f := newFixture(t, func(c *bridge.Config) { c.Now = func() time.Time { return *clock.Load() } })
	body := payload("ContactCreate", testLocation, map[string]any{"id": "c1", "timestamp": sent.Format(time.RFC3339Nano)})
	f.mustPost(body, http.StatusOK)
	f.drain()

	// HighLevel's retries come up to about 70 minutes late; the window is 75 minutes.
	set(74 * time.Minute) // just inside
	f.mustPost(body, http.StatusOK)
	if got := value(t, f.metrics.WebhookDupes); got != 1 {
		t.Errorf("replay inside the window: duplicates = %v, want 1", got)
	}
	set(76 * time.Minute) // just outside
	before := value(t, f.metrics.WebhookRejected.WithLabelValues(bridge.RejectStale))
	f.mustPost(body, http.StatusUnauthorized)
	if got := value(t, f.metrics.WebhookRejected.WithLabelValues(bridge.RejectStale)) - before; got != 1 {
		t.Errorf("replay outside the window: rejected{stale} grew by %v, want 1", got)
	}
	f.drain()
	if got := f.rec.counts()[webhookID(t, body)]; got != 1 {
		t.Errorf("signalled %d times, want 1", got)
	}
	if n := total(f.inboxCounts()); n != 1 {
		t.Errorf("%d inbox rows, want 1", n)
	}
	if row := f.inboxByKey(webhookID(t, body)); row.State != store.InboxSignalled {
		t.Errorf("the remembered row is %s, want signalled", row.State)
	}
}

func TestWebhookUnknownLocationIsOrphaned(t *testing.T) {
	f := newFixture(t, nil)
	body := payload("ContactCreate", "SomeOtherLocation000", map[string]any{"id": "c1"})
	f.mustPost(body, http.StatusAccepted)
	row := f.inboxByKey(webhookID(t, body))
	if row.State != store.InboxOrphaned || row.LocationID != "SomeOtherLocation000" || !bytes.Equal(row.Body, body) {
		t.Errorf("row = state %s, location %q, body kept %v; want orphaned with the raw body", row.State, row.LocationID, bytes.Equal(row.Body, body))
	}
	f.drain()
	if n := f.rec.count(); n != 0 {
		t.Errorf("orphaned event was signalled %d times", n)
	}
	if got := value(t, f.metrics.WebhookReceived.WithLabelValues("ContactCreate")); got != 1 {
		t.Errorf("received{ContactCreate} = %v, want 1", got)
	}
}

func TestWebhookReplayIsAcknowledgedOnce(t *testing.T) {
	f := newFixture(t, nil)
	body := payload("ContactCreate", testLocation, map[string]any{"id": "c1"})
	f.mustPost(body, http.StatusOK)
	f.mustPost(body, http.StatusOK)
	f.drain()
	f.mustPost(body, http.StatusOK) // after it was signalled, too
	f.drain()
	if got := f.rec.counts()[webhookID(t, body)]; got != 1 {
		t.Errorf("signalled %d times, want 1", got)
	}
	if n := total(f.inboxCounts()); n != 1 {
		t.Errorf("%d inbox rows, want 1", n)
	}
	if got := value(t, f.metrics.WebhookDupes); got != 2 {
		t.Errorf("duplicates = %v, want 2", got)
	}
}

func TestWebhookKeyRotation(t *testing.T) {
	f := newFixture(t, func(c *bridge.Config) {
		c.Keys = testKeys()
		c.Keys.AddAll(ghl.WebhookKeys{Ed25519: []ed25519.PublicKey{otherKey().Public().(ed25519.PublicKey)}, RSA: []*rsa.PublicKey{&otherLegacyKey().PublicKey}})
	})
	for name, hdr := range map[string]func([]byte) http.Header{
		"old Ed25519": func(b []byte) http.Header { return ed(sign(testKey(), b)) },
		"new Ed25519": func(b []byte) http.Header { return ed(sign(otherKey(), b)) },
		"old RSA":     func(b []byte) http.Header { return legacy(signLegacy(legacyKey(), b)) },
		"new RSA":     func(b []byte) http.Header { return legacy(signLegacy(otherLegacyKey(), b)) },
	} {
		body := payload("ContactUpdate", testLocation, map[string]any{"id": "c1"})
		if resp := f.postHeaders(body, hdr(body)); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d, want 200", name, resp.StatusCode)
		}
	}
}

// TestWebhookSchemeWithoutKeys: a scheme no configured key covers keeps HighLevel's published
// key, so keys configured before Ed25519 (RSA only) still verify today's X-GHL-Signature from
// HighLevel, and nothing else.
func TestWebhookSchemeWithoutKeys(t *testing.T) {
	edOnly := newFixture(t, func(c *bridge.Config) { c.Keys = ghl.WebhookKeys{Ed25519: testKeys().Ed25519} })
	body := payload("ContactUpdate", testLocation, map[string]any{"id": "c1"})
	if resp := edOnly.postHeaders(body, legacy(signLegacy(legacyKey(), body))); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("Ed25519 keys only, RSA by a test key: status %d, want 401", resp.StatusCode)
	}
	edOnly.mustPost(body, http.StatusOK)
	if logs := edOnly.logs.String(); !strings.Contains(logs, "matches none of 1 RSA keys") {
		t.Errorf("want HighLevel's RSA key as the one RSA key:\n%s", logs)
	}

	rsaOnly := newFixture(t, func(c *bridge.Config) { c.Keys = ghl.WebhookKeys{RSA: testKeys().RSA} })
	body = payload("ContactUpdate", testLocation, map[string]any{"id": "c2"})
	rsaOnly.mustPost(body, http.StatusUnauthorized) // Ed25519 by a test key
	if resp := rsaOnly.postHeaders(body, legacy(signLegacy(legacyKey(), body))); resp.StatusCode != http.StatusOK {
		t.Errorf("RSA keys only, RSA by the configured key: status %d, want 200", resp.StatusCode)
	}
	if logs := rsaOnly.logs.String(); !strings.Contains(logs, "matches none of 1 Ed25519 keys") {
		t.Errorf("want HighLevel's Ed25519 key as the one Ed25519 key:\n%s", logs)
	}
}

func TestWebhookDefaultKeysAreHighLevels(t *testing.T) {
	// With no key configured only HighLevel's published keys verify, so our test keys fail.
	f := newFixture(t, func(c *bridge.Config) { c.Keys = ghl.WebhookKeys{} })
	body := payload("ContactUpdate", testLocation, map[string]any{"id": "c1"})
	f.mustPost(body, http.StatusUnauthorized)
	if resp := f.postHeaders(body, legacy(signLegacy(legacyKey(), body))); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("RSA by a test key against the default keys: status %d, want 401", resp.StatusCode)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "matches none of 1 Ed25519 keys") || !strings.Contains(logs, "matches none of 1 RSA keys") {
		t.Errorf("want one default key per scheme in the rejection reasons:\n%s", logs)
	}
}

// TestWebhookStoreDownAnswers429: HighLevel retries only a 429, so an event the store cannot
// take is answered 429 with Retry-After, never 5xx.
func TestWebhookStoreDownAnswers429(t *testing.T) {
	f := newFixture(t, nil)
	f.store.Close()
	resp := f.post(payload("ContactUpdate", testLocation, map[string]any{"id": "c1"}))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q; want 429 with Retry-After so HighLevel retries", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := value(t, f.metrics.WebhookRejected.WithLabelValues(bridge.RejectStoreUnavailable)); got != 1 {
		t.Errorf("rejected{store_unavailable} = %v, want 1", got)
	}
}

// TestWebhookPoolExhaustedAnswers429: with every pooled connection held elsewhere the store
// times out, and the answer is 429 within StoreTimeout; once a connection is free again the
// same delivery (HighLevel's retry) is stored.
func TestWebhookPoolExhaustedAnswers429(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	st, err := postgres.Open(ctx, dsn+sep+"pool_max_conns=1", secrets.NewRandom())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	f := newFixtureOn(t, dsn, st, func(c *bridge.Config) { c.StoreTimeout = 300 * time.Millisecond })
	held, err := st.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release := sync.OnceFunc(held.Release)
	t.Cleanup(release) // before st.Close, which waits for every connection
	body := payload("ContactUpdate", testLocation, map[string]any{"id": "c1"})
	began := time.Now()
	resp := f.post(body)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("pool exhausted: status %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("answered after %s, want about StoreTimeout (300ms)", took)
	}
	release()
	f.mustPost(body, http.StatusOK)
	if n := total(f.inboxCounts()); n != 1 {
		t.Errorf("%d inbox rows, want 1", n)
	}
}

func TestWebhookUnknownTypeIsStoredAndIgnored(t *testing.T) {
	f := newFixture(t, nil)
	body := payload("OpportunityCreate", testLocation, map[string]any{"id": "o1"})
	f.mustPost(body, http.StatusOK)
	row := f.inboxByKey(webhookID(t, body))
	if row.State != store.InboxIgnored || row.EventType != "OpportunityCreate" {
		t.Errorf("row state %s type %q, want ignored OpportunityCreate", row.State, row.EventType)
	}
	if got := value(t, f.metrics.WebhookReceived.WithLabelValues("unknown")); got != 1 {
		t.Errorf("received{unknown} = %v, want 1", got)
	}
	f.drain()
	if f.rec.count() != 0 {
		t.Errorf("unknown event type was signalled")
	}
}

func TestWebhookResponseBody(t *testing.T) {
	f := newFixture(t, nil)
	body := payload("ContactUpdate", testLocation, map[string]any{"id": "c1"})
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/webhooks/ghl", bytes.NewReader(body))
	req.Header.Set(ghl.SignatureHeader, sign(testKey(), body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got["result"] != "pending" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("answer %v (%s), want result=pending as JSON", got, resp.Header.Get("Content-Type"))
	}
	// The answer came after the commit: the row is readable at once.
	if row := f.inboxByKey(webhookID(t, body)); row.State != store.InboxPending {
		t.Errorf("row state %s, want pending", row.State)
	}
}
