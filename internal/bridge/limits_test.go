package bridge_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/bridge"
	"github.com/hlrz/hlrz/internal/ghl"
)

// The public handler serves what HighLevel and browsers need and nothing an operator uses:
// metrics and readiness details are only on the internal handler.
func TestPublicAndInternalRoutes(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		srv  string
		path string
		want int
	}{
		{f.srv.URL, "/healthz", 200},
		{f.srv.URL, "/metrics", 404},
		{f.srv.URL, "/readyz", 404},
		{f.srv.URL, "/status/budgets", 404},
		{f.srv.URL, "/codec/decode", 404},
		{f.intl.URL, "/metrics", 200},
		{f.intl.URL, "/readyz", 200},
		{f.intl.URL, "/webhooks/ghl", 404},
		{f.intl.URL, "/oauth/start", 404},
	} {
		if resp, _ := get(t, http.DefaultClient, tc.srv+tc.path); resp.StatusCode != tc.want {
			where := "public"
			if tc.srv == f.intl.URL {
				where = "internal"
			}
			t.Errorf("%s %s: %d, want %d", where, tc.path, resp.StatusCode, tc.want)
		}
	}
}

// A webhook is JSON: any other Content-Type is refused with 415 before anything is read.
func TestWebhookContentType(t *testing.T) {
	f := newFixture(t, nil)
	for ct, want := range map[string]int{
		"":                                  415,
		"text/plain":                        415,
		"application/x-www-form-urlencoded": 415,
		"application/jsonx":                 415,
		"application/json; charset=utf-8":   200,
		"Application/JSON":                  200,
	} {
		body := payload("ContactUpdate", testLocation, map[string]any{"id": "c1"})
		h := ed(sign(testKey(), body))
		h.Set("Content-Type", ct)
		if ct == "" {
			h["Content-Type"] = []string{""}
		}
		if resp := f.postHeaders(body, h); resp.StatusCode != want {
			t.Errorf("Content-Type %q: %d, want %d", ct, resp.StatusCode, want)
		}
	}
	if got := value(t, f.metrics.WebhookRejected.WithLabelValues(bridge.RejectContentType)); got != 4 {
		t.Errorf("content_type rejections counted %v, want 4", got)
	}
}

// At most MaxConcurrent webhook requests are in progress; the next is answered 429 with
// Retry-After at once (HighLevel retries it, ghl-facts.md §2), and a slot freed serves again.
func TestWebhookConcurrencyLimit(t *testing.T) {
	f := newFixture(t, func(c *bridge.Config) { c.MaxConcurrent = 2 })
	body := payload("ContactUpdate", testLocation, map[string]any{"id": "c1"})

	// Two senders that never finish their bodies hold both slots.
	// Fresh connections of their own: a pipe body cannot be retried on a stale one.
	slowClient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var writers []*io.PipeWriter
	done := make(chan int, 2)
	for range 2 {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		t.Cleanup(func() { _ = pw.CloseWithError(io.ErrUnexpectedEOF) }) // before the server closes
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/webhooks/ghl", pr)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(ghl.SignatureHeader, sign(testKey(), body))
		go func() {
			resp, err := slowClient.Do(req)
			if err != nil {
				t.Logf("slow sender: %v", err)
				done <- -1
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		go func() { _, _ = pw.Write(body[:10]) }()
	}
	eventually(t, 5*time.Second, "both slow senders in the handler", func() bool { return f.bridge.WebhooksInFlight() == 2 })
	var resp *http.Response
	eventually(t, 5*time.Second, "a third webhook answered 429", func() bool {
		resp = f.post(payload("ContactUpdate", testLocation, map[string]any{"id": "c2"}))
		return resp.StatusCode == http.StatusTooManyRequests
	})
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if got := value(t, f.metrics.WebhookRejected.WithLabelValues(bridge.RejectOverloaded)); got < 1 {
		t.Errorf("overloaded rejections counted %v", got)
	}
	// The slow senders finish; their slots are free again.
	for _, pw := range writers {
		go func() {
			_, _ = pw.Write(body[10:])
			_ = pw.Close()
		}()
	}
	for range 2 {
		select {
		case code := <-done:
			if code != 200 {
				t.Errorf("slow sender answered %d, want 200", code)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("slow sender got no answer")
		}
	}
	if resp := f.post(payload("ContactUpdate", testLocation, map[string]any{"id": "c3"})); resp.StatusCode != 200 {
		t.Errorf("after the slots were freed: %d, want 200", resp.StatusCode)
	}
	if strings.Contains(f.logs.String(), piiEmail) {
		t.Error("logs contain personal data")
	}
}
