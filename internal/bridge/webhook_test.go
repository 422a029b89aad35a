package bridge_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/bridge"
	"github.com/hlrz/hlrz/internal/store"
)

func TestWebhookRejectsBadInput(t *testing.T) {
	f := newFixture(t, nil)
	contact := func(fields map[string]any) []byte {
		base := map[string]any{"id": "c1"}
		for k, v := range fields {
			base[k] = v
		}
		return payload("ContactCreate", testLocation, base)
	}
	huge := contact(map[string]any{"companyName": strings.Repeat("x", bridge.MaxBodyBytes)})
	cases := []struct {
		name   string
		body   []byte
		sig    func(body []byte) string
		method string
		want   int
		reason string
	}{
		{name: "missing signature", body: contact(nil), sig: func([]byte) string { return "" }, want: 401, reason: bridge.RejectNoSignature},
		{name: "signature by another key", body: contact(nil), sig: func(b []byte) string { return sign(otherKey(), b) }, want: 401, reason: bridge.RejectBadSignature},
		{name: "signature not base64", body: contact(nil), sig: func([]byte) string { return "!!not-base64!!" }, want: 401, reason: bridge.RejectBadSignature},
		{name: "body changed after signing", body: contact(nil), sig: func(b []byte) string {
			return sign(testKey(), bytes.Replace(b, []byte(`"c1"`), []byte(`"c2"`), 1))
		}, want: 401, reason: bridge.RejectBadSignature},
		{name: "stale timestamp", body: contact(map[string]any{"timestamp": time.Now().Add(-6 * time.Minute).UTC().Format(time.RFC3339)}), want: 401, reason: bridge.RejectStale},
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
			sig := sign(testKey(), tc.body)
			if tc.sig != nil {
				sig = tc.sig(tc.body)
			}
			if sig != "" {
				req.Header.Set("x-wh-signature", sig)
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

func TestWebhookTimestampWindow(t *testing.T) {
	f := newFixture(t, func(c *bridge.Config) { c.MaxSkew = time.Minute })
	for _, off := range []time.Duration{-50 * time.Second, 50 * time.Second} {
		body := payload("ContactUpdate", testLocation, map[string]any{"id": "c1", "timestamp": time.Now().Add(off).UTC().Format(time.RFC3339Nano)})
		f.mustPost(body, http.StatusOK)
	}
	for _, off := range []time.Duration{-70 * time.Second, 70 * time.Second} {
		body := payload("ContactUpdate", testLocation, map[string]any{"id": "c1", "timestamp": time.Now().Add(off).UTC().Format(time.RFC3339Nano)})
		f.mustPost(body, http.StatusUnauthorized)
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
		c.PublicKeys = []*rsa.PublicKey{&otherKey().PublicKey, &testKey().PublicKey}
	})
	oldBody := payload("ContactUpdate", testLocation, map[string]any{"id": "c1"})
	f.mustPost(oldBody, http.StatusOK)
	newBody := payload("ContactUpdate", testLocation, map[string]any{"id": "c1"})
	if resp := f.postSig(newBody, sign(otherKey(), newBody)); resp.StatusCode != http.StatusOK {
		t.Errorf("second key: status %d, want 200", resp.StatusCode)
	}
}

func TestWebhookDefaultKeyIsHighLevels(t *testing.T) {
	// With no key configured only HighLevel's published key verifies, so our test key fails.
	f := newFixture(t, func(c *bridge.Config) { c.PublicKeys = nil })
	f.mustPost(payload("ContactUpdate", testLocation, map[string]any{"id": "c1"}), http.StatusUnauthorized)
}

func TestWebhookStoreDownAnswers503(t *testing.T) {
	f := newFixture(t, nil)
	f.store.Close()
	resp := f.post(payload("ContactUpdate", testLocation, map[string]any{"id": "c1"}))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 so HighLevel retries", resp.StatusCode)
	}
	if got := value(t, f.metrics.WebhookRejected.WithLabelValues(bridge.RejectStoreUnavailable)); got != 1 {
		t.Errorf("rejected{store_unavailable} = %v, want 1", got)
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
	req.Header.Set("x-wh-signature", sign(testKey(), body))
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
