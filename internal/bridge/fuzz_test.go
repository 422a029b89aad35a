package bridge_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/bridge"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/metrics"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/postgres"
	"github.com/hlrz/hlrz/internal/testutil/pgtest"
)

// fuzzNow is the bridge's clock in the fuzz test, so seeds with fixed timestamps stay fresh.
var fuzzNow = time.Date(2025, 1, 28, 14, 35, 0, 0, time.UTC)

// FuzzWebhookHandler feeds arbitrary bodies, validly signed or not, through the real handler
// and store. Whatever the body, the handler answers one of the documented statuses, stores
// exactly what it acknowledged, and answers a repeat of an acknowledged body as a duplicate.
func FuzzWebhookHandler(f *testing.F) {
	seeds := []string{
		`{"type":"ContactCreate","locationId":"LocTest0000000000001","id":"c1","webhookId":"w1","timestamp":"2025-01-28T14:35:00Z","email":"a@b.c"}`,
		`{"type":"ContactUpdate","locationId":"LocTest0000000000001","id":"c1","webhookId":"w2","timestamp":"2025-01-28T14:34:00.123Z"}`,
		`{"type":"TaskCreate","locationId":"LocTest0000000000001","id":"t1","webhookId":"w3","timestamp":"2025-01-28T14:35:00Z"}`,
		`{"type":"NoteCreate","locationId":"LocTest0000000000001","id":"n1","contactId":"c1","webhookId":"w4","timestamp":"2025-01-28T14:35:00Z"}`,
		`{"type":"AppointmentCreate","locationId":"LocTest0000000000001","appointment":{"id":"a1","contactId":"c1"},"webhookId":"w5","timestamp":"2025-01-28T14:35:00Z"}`,
		`{"type":"INSTALL","appId":"x","locationId":"L2","webhookId":"w6","timestamp":"2025-01-28T14:35:00Z"}`,
		`{"type":"UNINSTALL","appId":"x","companyId":"c","webhookId":"w7","timestamp":"2025-01-28T14:35:00Z"}`,
		`{"type":"ContactCreate","locationId":"Unknown","id":"c1","webhookId":"w8","timestamp":"2025-01-28T14:35:00Z"}`,
		`{"type":"Mystery","locationId":"LocTest0000000000001","webhookId":"w9","timestamp":"2025-01-28T14:35:00Z"}`,
		`{"type":"ContactCreate","locationId":"LocTest0000000000001","webhookId":"w10","timestamp":"2020-01-01T00:00:00Z"}`,
		`{"type":"ContactCreate","locationId":"LocTest0000000000001","webhookId":"w11"}`,
		`{"type":"ContactCreate","locationId":"LocTest0000000000001","timestamp":"2025-01-28T14:35:00Z"}`,
		`{"type":123,"webhookId":{"a":1},"timestamp":[1]}`,
		`{"type":"ContactCreate","locationId":"Loc\u0000","webhookId":"w\u0000","timestamp":"2025-01-28T14:35:00Z"}`,
		`{"type":"ContactCreate","locationId":"LocTest0000000000001","webhookId":"w12","timestamp":1738074900000}`,
		`null`, `[]`, `"x"`, `{`, ``, "\xff\xfe",
	}
	for _, s := range seeds {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}

	dsn := pgtest.NewDatabase(f)
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn, secrets.NewRandom())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(st.Close)
	if _, err := st.PutConnection(ctx, store.Connection{ID: testConnID, GHLLocationID: testLocation}); err != nil {
		f.Fatal(err)
	}
	b, err := bridge.New(bridge.Config{
		Store: st, Signaler: newRecorder(), Keys: testKeys(),
		Metrics: metrics.New(), Now: func() time.Time { return fuzzNow },
	})
	if err != nil {
		f.Fatal(err)
	}
	h := b.Handler()
	post := func(body []byte, signed bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/ghl", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if signed {
			req.Header.Set(ghl.SignatureHeader, sign(testKey(), body))
		} else {
			req.Header.Set(ghl.SignatureHeader, "c2lnbmF0dXJl")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}

	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		w := post(body, signed)
		switch w.Code {
		case http.StatusOK, http.StatusAccepted:
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
			return
		default:
			t.Fatalf("status %d for body %q", w.Code, body)
		}
		if !signed {
			t.Fatalf("an unsigned body was accepted: %q", body)
		}
		env, err := ghl.DecodeWebhook(body)
		if err != nil || env.WebhookID == "" {
			t.Fatalf("accepted a body the decoder rejects (%v) or without webhookId: %q", err, body)
		}
		var id int64
		if err := st.Pool().QueryRow(ctx, `SELECT id FROM inbox WHERE dedupe_key = $1`, env.WebhookID).Scan(&id); err != nil {
			t.Fatalf("acknowledged but not stored: %v", err)
		}
		row, err := st.GetInbox(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		// The fuzzer may reuse a webhookId with another body; the first one stored wins.
		if w.Code == http.StatusAccepted && row.State != store.InboxOrphaned && bytes.Equal(row.Body, body) {
			t.Errorf("202 for a row in state %s", row.State)
		}
		if again := post(body, true); again.Code != http.StatusOK {
			t.Errorf("repeat of an acknowledged body: status %d, want 200", again.Code)
		}
	})
}

// FuzzKindOf checks the event mapping never panics and maps every type the decoder knows,
// except the app lifecycle events, to a kind.
func FuzzKindOf(f *testing.F) {
	for _, s := range []string{"ContactCreate", "TaskCreate", "AppointmentDelete", "INSTALL", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, typ string) {
		kind, ok := bridge.KindOf(typ)
		if ok != (kind != "") {
			t.Fatalf("KindOf(%q) = %q, %v", typ, kind, ok)
		}
		env, err := ghl.DecodeWebhook([]byte(`{"type":` + quote(typ) + `}`))
		if err != nil {
			return
		}
		lifecycle := env.Type == ghl.EventAppInstall || env.Type == ghl.EventAppUninstall
		if _, ok := bridge.KindOf(env.Type); ok == (env.Payload == nil || lifecycle) {
			t.Errorf("type %q (payload %T): KindOf ok=%v", env.Type, env.Payload, ok)
		}
	})
}

func quote(s string) string {
	var buf bytes.Buffer
	buf.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			buf.WriteByte('\\')
			buf.WriteRune(r)
		case r < 0x20:
			buf.WriteString(`\u00`)
			buf.WriteByte("0123456789abcdef"[r>>4])
			buf.WriteByte("0123456789abcdef"[r&15])
		default:
			buf.WriteRune(r)
		}
	}
	buf.WriteByte('"')
	return buf.String()
}
