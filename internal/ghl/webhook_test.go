package ghl_test

import (
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/ghl/ghlspec"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

// docExamples returns the JSON examples of every webhook doc, by file name.
func docExamples(t *testing.T) map[string][]string {
	t.Helper()
	dir, err := ghlspec.Dir()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "docs", "webhook-events", "*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no webhook docs in %s: %v", dir, err)
	}
	block := regexp.MustCompile("(?s)```json\n(.*?)```")
	out := map[string][]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllStringSubmatch(string(raw), -1) {
			out[strings.TrimSuffix(filepath.Base(f), ".md")] = append(out[strings.TrimSuffix(filepath.Base(f), ".md")], m[1])
		}
	}
	return out
}

func TestDecodeWebhookDocExamples(t *testing.T) {
	examples := docExamples(t)
	if len(examples) != 16 {
		t.Fatalf("found examples for %d events, want 16", len(examples))
	}
	for name, bodies := range examples {
		for _, body := range bodies {
			env, err := ghl.DecodeWebhook([]byte(body))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			switch {
			case strings.HasPrefix(name, "Contact"):
				p, ok := env.Payload.(*ghl.ContactEvent)
				if !ok || env.Type != name || env.ObjectID != "nmFmQEsNgz6AVpgLVUJ0" || env.ContactID != env.ObjectID ||
					p.Email != "JohnDeo@gmail.comm" || len(p.Tags) != 2 || len(p.CustomFields) != 1 || p.CustomFields[0].Value != "XYZ Corp" {
					t.Errorf("%s: %+v / %+v", name, env, env.Payload)
				}
				if name == "ContactDndUpdate" && (len(p.DNDSettings) != 6 || p.DNDSettings["Email"].Status != "active") {
					t.Errorf("%s: dndSettings = %+v", name, p.DNDSettings)
				}
			case strings.HasPrefix(name, "Note"):
				p, ok := env.Payload.(*ghl.NoteEvent)
				if !ok || env.Type != name || env.ContactID != "CWBf1PR9LvvBkcYqiXlc" || p.Body != "Loram ipsum" || p.DateAdded.IsZero() {
					t.Errorf("%s: %+v / %+v", name, env, env.Payload)
				}
			case strings.HasPrefix(name, "Task"):
				p, ok := env.Payload.(*ghl.TaskEvent)
				if !ok || env.Type != name || env.ContactID == "" || p.Title == "" || p.DueDate.IsZero() || env.ObjectID != p.ID {
					t.Errorf("%s: %+v / %+v", name, env, env.Payload)
				}
			case strings.HasPrefix(name, "Appointment"):
				// The docs' Update and Delete examples say "AppointmentCreate" (a docs bug); the
				// decoder reports what the body says.
				p, ok := env.Payload.(*ghl.AppointmentEvent)
				if !ok || env.Type != "AppointmentCreate" || env.ContactID != "9NkT25Vor1v4aQatFsv2" || len(p.Appointment.Users) != 2 || p.Appointment.StartTime.IsZero() {
					t.Errorf("%s: %+v / %+v", name, env, env.Payload)
				}
			case name == "AppInstall":
				p, ok := env.Payload.(*ghl.AppInstallEvent)
				if !ok || env.Type != ghl.EventAppInstall || env.RawType != "INSTALL" || p.AppID != "ve9EPM428h8vShlRW1KT" || !p.Trial.OnTrial || p.Trial.TrialDuration != 10 {
					t.Errorf("%s: %+v / %+v", name, env, env.Payload)
				}
			case name == "AppUninstall":
				p, ok := env.Payload.(*ghl.AppUninstallEvent)
				if !ok || env.Type != ghl.EventAppUninstall || p.AppID == "" || (p.LocationID == "" && p.CompanyID == "") {
					t.Errorf("%s: %+v / %+v", name, env, env.Payload)
				}
			default:
				t.Errorf("unexpected doc %s", name)
			}
		}
	}
}

func TestDecodeWebhookTolerant(t *testing.T) {
	env, err := ghl.DecodeWebhook([]byte(`{"type":"ContactUpdate","locationId":"L","id":12345,"webhookId":"w1",
		"timestamp":"2025-01-28T14:35:00Z","dnd":"true","tags":["a",7,null,{"x":1}],"dateAdded":1700000000000,
		"customFields":[{"id":"f","value":3},"junk"],"dndSettings":{"SMS":{"status":"active"},"FB":5},"email":null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &ghl.ContactEvent{ID: "12345", LocationID: "L", DND: true, Tags: []string{"a", "7"},
		DateAdded:    ghl.Time{Time: time.UnixMilli(1700000000000).UTC()},
		CustomFields: []ghl.CustomFieldValue{{ID: "f", Value: float64(3)}},
		DNDSettings:  map[string]ghl.DNDSetting{"SMS": {Status: "active"}}}
	if diff := cmp.Diff(want, env.Payload); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
	if env.WebhookID != "w1" || !env.Timestamp.Equal(time.Date(2025, 1, 28, 14, 35, 0, 0, time.UTC)) {
		t.Errorf("envelope = %+v", env)
	}

	if env, err := ghl.DecodeWebhook([]byte(`{"type":"OpportunityCreate","locationId":"L","id":"o1"}`)); err != nil || env.Payload != nil || env.Type != "OpportunityCreate" {
		t.Errorf("unknown type: %+v, %v", env, err)
	}
	if env, err := ghl.DecodeWebhook([]byte(`{"type":"TaskCreate","locationId":"L","id":"t1","title":"x"}`)); err != nil || env.ContactID != "" || env.ObjectID != "t1" {
		t.Errorf("TaskCreate without contactId: %+v, %v", env, err)
	}
	for _, body := range []string{``, `null`, `[]`, `"x"`, `{}`, `{"type":""}`, `{"type":5}`, `{bad json`} {
		if _, err := ghl.DecodeWebhook([]byte(body)); !errors.Is(err, ghl.ErrBadWebhook) {
			t.Errorf("DecodeWebhook(%q) = %v, want ErrBadWebhook", body, err)
		}
	}
}

func TestDefaultWebhookPublicKeyMatchesDocs(t *testing.T) {
	dir, err := ghlspec.Dir()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(dir, "docs", "oauth", "WebhookAuthentication.md"))
	if err != nil {
		t.Fatal(err)
	}
	pemText := regexp.MustCompile(`(?s)-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----`).Find(doc)
	fromDoc, err := ghl.ParsePublicKey(pemText)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ghl.DefaultWebhookPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(fromDoc) || k.N.BitLen() != 4096 {
		t.Error("embedded key differs from the published one")
	}
}

// receiver collects webhook deliveries.
type receiver struct {
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.headers = append(r.headers, req.Header.Clone())
	r.mu.Unlock()
}

// TestWebhookSignatureRoundTrip: the simulator signs, VerifyWebhook accepts the raw body
// with the simulator's keys and rejects tampering, other keys and HighLevel's keys.
func TestWebhookSignatureRoundTrip(t *testing.T) {
	key, err := ghlsim.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	rcv := &receiver{}
	hook := httptest.NewServer(rcv)
	t.Cleanup(hook.Close)
	e := newEnv(t, ghlsim.Options{Webhooks: ghlsim.WebhookOptions{URL: hook.URL, Key: key, Sign: ghlsim.SignBoth}})
	c := e.client(t, ghl.StaticToken(pit), nil)
	ctx := ctxT(t)
	contact, err := c.CreateContact(ctx, ghl.ContactInput{FirstName: new("Wendy"), Email: new("wendy@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddTags(ctx, contact.ID, []string{"member"}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.WaitDelivered(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rcv.bodies) != 2 {
		t.Fatalf("received %d webhooks, want 2", len(rcv.bodies))
	}
	simKeys, err := e.sim.WebhookPublicKeys()
	if err != nil {
		t.Fatal(err)
	}
	if !simKeys.Ed25519[0].Equal(key.Public()) {
		t.Fatal("WebhookPublicKeys does not return the configured key")
	}
	other, err := ghlsim.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherKeys := ghl.WebhookKeys{Ed25519: []ed25519.PublicKey{other.Public().(ed25519.PublicKey)}, RSA: simKeys.RSA}
	highLevel, err := ghl.DefaultWebhookKeys()
	if err != nil {
		t.Fatal(err)
	}
	for i, body := range rcv.bodies {
		h := rcv.headers[i]
		if scheme, err := ghl.VerifyWebhook(body, h, simKeys); err != nil || scheme != ghl.SchemeEd25519 {
			t.Errorf("valid signature rejected: %s %v", scheme, err)
		}
		legacyOnly := http.Header{}
		legacyOnly.Set(ghl.LegacySignatureHeader, h.Get(ghl.LegacySignatureHeader))
		if scheme, err := ghl.VerifyWebhook(body, legacyOnly, simKeys); err != nil || scheme != ghl.SchemeRSA {
			t.Errorf("valid legacy signature rejected: %s %v", scheme, err)
		}
		tampered := []byte(strings.Replace(string(body), "wendy", "wendi", 1))
		if _, err := ghl.VerifyWebhook(tampered, h, simKeys); !errors.Is(err, ghl.ErrBadSignature) {
			t.Errorf("tampered body accepted: %v", err)
		}
		// The RSA key still matches, but X-GHL-Signature decides and its key is unknown.
		if _, err := ghl.VerifyWebhook(body, h, otherKeys); !errors.Is(err, ghl.ErrBadSignature) {
			t.Errorf("wrong Ed25519 key accepted (fell back to RSA?): %v", err)
		}
		if _, err := ghl.VerifyWebhook(body, h, highLevel); !errors.Is(err, ghl.ErrBadSignature) {
			t.Errorf("HighLevel's keys accepted the simulator's signature: %v", err)
		}
		if _, err := ghl.VerifyWebhook(body, http.Header{}, simKeys); !errors.Is(err, ghl.ErrNoSignature) {
			t.Errorf("missing signature: %v, want ErrNoSignature", err)
		}
		env, err := ghl.DecodeWebhook(body)
		if err != nil || env.WebhookID == "" || time.Since(env.Timestamp) > time.Minute || env.ContactID != contact.ID || env.LocationID != loc {
			t.Errorf("delivered event %d: %+v, %v", i, env, err)
		}
	}
}
