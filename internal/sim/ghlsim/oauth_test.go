package ghlsim_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

// clock is a settable clock for token expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// tokenCall posts a form to /oauth/token through the validating transport.
func (f *fixture) tokenCall(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := (&http.Client{Transport: f.rec}).PostForm(f.srv.URL+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func (f *fixture) authorize(t *testing.T, extra string) string {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(f.srv.URL + "/oauth/chooselocation?response_type=code&client_id=sim-client-id&redirect_uri=" +
		url.QueryEscape("https://x.example/cb?keep=1") + "&state=s1&scope=contacts.readonly" + extra)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	u, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	if u.Query().Get("state") != "s1" || u.Query().Get("keep") != "1" || u.Host != "x.example" {
		t.Fatalf("redirect = %s", u.Redacted())
	}
	return u.Query().Get("code")
}

func TestOAuthRotationAndExpiry(t *testing.T) {
	clk := &clock{t: time.Now()}
	f := newFixture(t, ghlsim.Options{Now: clk.Now, AccessTokenTTL: time.Hour})
	c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	code := f.authorize(t, "")
	form := url.Values{"client_id": {"sim-client-id"}, "client_secret": {"sim-client-secret"}, "grant_type": {"authorization_code"},
		"code": {code}, "user_type": {"Location"}, "redirect_uri": {"https://x.example/cb?keep=1"}}
	st, tok := f.tokenCall(t, form)
	if st != http.StatusOK || tok["locationId"] != loc || tok["expires_in"] != float64(3600) || tok["token_type"] != "Bearer" || tok["userId"] == "" {
		t.Fatalf("exchange: %d %v", st, tok)
	}
	if st, body := f.tokenCall(t, form); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("code reuse: %d %v", st, body)
	}
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	if st, _, _ := f.call(t, "GET", "/contacts/"+c.ID, access, nil); st != http.StatusOK {
		t.Fatalf("call with access token: %d", st)
	}

	rf := url.Values{"client_id": {"sim-client-id"}, "client_secret": {"sim-client-secret"}, "grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	st, tok2 := f.tokenCall(t, rf)
	if st != http.StatusOK || tok2["refresh_token"] == refresh || tok2["access_token"] == access {
		t.Fatalf("refresh: %d %v", st, tok2)
	}
	st, body := f.tokenCall(t, rf)
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("rotated-out refresh token: %d %v", st, body)
	}
	if strings.Contains(body["message"].(string), refresh) {
		t.Error("error echoes the refresh token")
	}

	// Access tokens expire after the TTL on the simulator's clock.
	clk.Add(time.Hour)
	if st, _, body := f.call(t, "GET", "/contacts/"+c.ID, tok2["access_token"].(string), nil); st != http.StatusUnauthorized || body["message"] != "Invalid JWT" {
		t.Errorf("expired token: %d %v", st, body)
	}

	bad := url.Values{"client_id": {"sim-client-id"}, "client_secret": {"wrong"}, "grant_type": {"refresh_token"}, "refresh_token": {tok2["refresh_token"].(string)}}
	if st, body := f.tokenCall(t, bad); st != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("bad client secret: %d %v", st, body)
	}
	if got := f.sim.Stats().TokenRequests; got["authorization_code"] != 2 || got["refresh_token"] != 3 {
		t.Errorf("token request counters = %v", got)
	}

	// Uninstall revokes the location's OAuth tokens but not Private Integration tokens.
	st, tok3 := f.tokenCall(t, url.Values{"client_id": {"sim-client-id"}, "client_secret": {"sim-client-secret"},
		"grant_type": {"authorization_code"}, "code": {f.authorize(t, "")}})
	if st != http.StatusOK {
		t.Fatal(st)
	}
	f.sim.Uninstall(loc)
	if st, _, _ := f.call(t, "GET", "/contacts/"+c.ID, tok3["access_token"].(string), nil); st != http.StatusUnauthorized {
		t.Errorf("after uninstall: %d", st)
	}
	if st, body := f.tokenCall(t, url.Values{"client_id": {"sim-client-id"}, "client_secret": {"sim-client-secret"},
		"grant_type": {"refresh_token"}, "refresh_token": {tok3["refresh_token"].(string)}}); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("refresh after uninstall: %d", st)
	}
	if st, _, _ := f.call(t, "GET", "/contacts/"+c.ID, pit, nil); st != http.StatusOK {
		t.Errorf("private token after uninstall: %d", st)
	}
	f.contract(t)
}

func TestAuthorizeChoosesLocation(t *testing.T) {
	f := newFixture(t, ghlsim.Options{DefaultLocationID: "default-loc"})
	code := f.authorize(t, "&locationId=chosen-loc")
	st, tok := f.tokenCall(t, url.Values{"client_id": {"sim-client-id"}, "client_secret": {"sim-client-secret"},
		"grant_type": {"authorization_code"}, "code": {code}})
	if st != http.StatusOK || tok["locationId"] != "chosen-loc" {
		t.Fatalf("exchange: %d %v", st, tok)
	}
	resp, err := http.Get(f.srv.URL + "/oauth/chooselocation?response_type=code&client_id=someone-else&redirect_uri=https://x.example/cb")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown client: %d", resp.StatusCode)
	}
	f.contract(t)
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, ghlsim.Options{RateMax: 5, RateInterval: 400 * time.Millisecond, SendRetryAfter: true})
	c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		st, h, _ := f.call(t, "GET", "/contacts/"+c.ID, pit, nil)
		if st != http.StatusOK || h.Get("X-RateLimit-Remaining") != strconv.Itoa(4-i) || h.Get("X-RateLimit-Max") != "5" ||
			h.Get("X-RateLimit-Interval-Milliseconds") != "400" || h.Get("X-RateLimit-Limit-Daily") != "200000" ||
			h.Get("X-RateLimit-Daily-Remaining") != strconv.Itoa(200000-1-i) {
			t.Fatalf("call %d: %d %v", i, st, h)
		}
	}
	st, h, body := f.call(t, "GET", "/contacts/"+c.ID, pit, nil)
	if st != http.StatusTooManyRequests || h.Get("X-RateLimit-Remaining") != "0" || h.Get("Retry-After") == "" || body["statusCode"] != float64(429) {
		t.Fatalf("6th call: %d %v %v", st, h, body)
	}
	time.Sleep(450 * time.Millisecond)
	if st, _, _ := f.call(t, "GET", "/contacts/"+c.ID, pit, nil); st != http.StatusOK {
		t.Errorf("after the window: %d", st)
	}
	if got := f.sim.Stats().RateLimited; got != 1 {
		t.Errorf("rate limited = %d", got)
	}

	d := newFixture(t, ghlsim.Options{DailyLimit: 2})
	for i, want := range []int{200, 200, 429} {
		st, h, _ := d.call(t, "GET", "/contacts/"+c.ID+"x", pit, nil)
		if (want == 200 && st != http.StatusNotFound) || (want == 429 && st != http.StatusTooManyRequests) {
			t.Errorf("daily call %d: %d (remaining %s)", i, st, h.Get("X-RateLimit-Daily-Remaining"))
		}
	}
	f.contract(t)
	d.contract(t)
}

func TestFaults(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// Set over HTTP, as a benchmark script would.
	st, _, body := f.raw(t, "POST", "/admin/faults", "", map[string]any{"force5xx": 2, "latencyMs": 60}, nil)
	if st != http.StatusOK || body["force5xx"] != float64(2) || body["status5xx"] != float64(503) {
		t.Fatalf("POST /admin/faults: %d %v", st, body)
	}
	began := time.Now()
	for _, want := range []int{503, 503, 200} {
		if st, _, _ := f.call(t, "GET", "/contacts/"+c.ID, pit, nil); st != want {
			t.Errorf("got %d, want %d", st, want)
		}
	}
	if el := time.Since(began); el < 180*time.Millisecond {
		t.Errorf("three calls with 60ms latency took %s", el)
	}
	f.sim.SetFaults(ghlsim.Faults{ErrorRate: 1})
	if st, _, _ := f.call(t, "PUT", "/contacts/"+c.ID, pit, map[string]any{"city": "X"}); st != http.StatusInternalServerError {
		t.Errorf("error rate 1: %d", st)
	}
	if got, _ := f.sim.Contact(c.ID); got.City != "" {
		t.Error("a failed request changed state")
	}
	if st := f.sim.Stats(); st.Writes != 0 {
		t.Errorf("injected failures counted as writes: %d", st.Writes)
	}
	f.sim.SetFaults(ghlsim.Faults{Force429: 1, RetryAfter: 1500 * time.Millisecond})
	if st, h, _ := f.call(t, "GET", "/contacts/"+c.ID, pit, nil); st != http.StatusTooManyRequests || h.Get("Retry-After") != "1.5" {
		t.Errorf("forced 429: %d Retry-After %q", st, h.Get("Retry-After"))
	}
	// A 429 rate answers about that share of requests, each with the wait (80 requests stay
	// under the real 100 per 10 s limit).
	f.sim.SetFaults(ghlsim.Faults{RateLimitRate: 0.25, RetryAfter: time.Second})
	limited := 0
	for range 80 {
		st, h, _ := f.call(t, "GET", "/contacts/"+c.ID, pit, nil)
		if st == http.StatusTooManyRequests {
			limited++
			if h.Get("Retry-After") != "1" {
				t.Fatalf("429 without Retry-After: %v", h)
			}
		}
	}
	if limited < 8 || limited > 40 {
		t.Errorf("429 rate 0.25 answered %d of 80 requests 429", limited)
	}
	f.sim.SetFaults(ghlsim.Faults{})
	f.contract(t)
}

// TestAdminHTTP acts as a person editing in HighLevel through the admin endpoints.
func TestAdminHTTP(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	admin := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		st, _, out := f.raw(t, method, path, "", body, nil)
		if st != want {
			t.Fatalf("%s %s: %d %v", method, path, st, out)
		}
		return out
	}
	c := admin("POST", "/admin/contacts", map[string]any{"locationId": loc, "firstName": "Ann", "email": "ann@example.com", "tags": []string{"A"}}, 201)
	id := c["id"].(string)
	admin("POST", "/admin/contacts", map[string]any{"locationId": loc, "email": "ANN@example.com"}, 400) // duplicate
	admin("PUT", "/admin/contacts/"+id, map[string]any{"lastName": "Lee"}, 200)
	admin("POST", "/admin/contacts/"+id+"/tags", map[string]any{"tags": []string{"B"}}, 200)
	admin("DELETE", "/admin/contacts/"+id+"/tags", map[string]any{"tags": []string{"a"}}, 200)
	n := admin("POST", "/admin/contacts/"+id+"/notes", map[string]any{"body": "hi"}, 201)
	admin("PUT", "/admin/notes/"+n["id"].(string), map[string]any{"body": "hello"}, 200)
	admin("DELETE", "/admin/notes/"+n["id"].(string), nil, 200)
	task := admin("POST", "/admin/contacts/"+id+"/tasks", map[string]any{"title": "Call", "dueDate": "2030-01-01T00:00:00Z"}, 201)
	admin("PUT", "/admin/tasks/"+task["id"].(string), map[string]any{"title": "Call now"}, 200)
	admin("PUT", "/admin/tasks/"+task["id"].(string)+"/completed", nil, 200)
	a := admin("POST", "/admin/contacts/"+id+"/appointments", map[string]any{"title": "Intro", "startTime": "2030-01-01T09:00:00Z", "endTime": "2030-01-01T10:00:00Z"}, 201)
	admin("PUT", "/admin/appointments/"+a["id"].(string), map[string]any{"appointmentStatus": "cancelled"}, 200)
	admin("POST", "/admin/customFields", map[string]any{"locationId": loc, "name": "Level"}, 201)
	admin("POST", "/admin/tokens", map[string]any{"locationId": "loc-2", "token": "pit-2"}, 201)
	admin("DELETE", "/admin/contacts/missing", nil, 404)

	snap := admin("GET", "/admin/snapshot", nil, 200)
	contacts := snap["contacts"].([]any)
	if len(contacts) != 1 || contacts[0].(map[string]any)["lastName"] != "Lee" || len(snap["tasks"].([]any)) != 1 || len(snap["notes"].([]any)) != 0 {
		t.Errorf("snapshot = %v", snap)
	}
	if got := snap["tasks"].([]any)[0].(map[string]any); got["title"] != "Call now" || got["completed"] != true {
		t.Errorf("task = %v", got)
	}
	admin("POST", "/admin/webhooks/wait?timeout=10s", nil, 200)
	want := "ContactCreate ContactUpdate ContactTagUpdate ContactTagUpdate NoteCreate NoteUpdate NoteDelete TaskCreate TaskComplete AppointmentCreate AppointmentUpdate"
	if got := strings.Join(f.hook.types(), " "); got != want {
		t.Errorf("events = %s\nwant     %s", got, want)
	}

	resp, err := http.Get(f.srv.URL + "/admin/webhooks/public-key")
	if err != nil {
		t.Fatal(err)
	}
	pemText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	keys, err := ghl.ParseWebhookKeys(pemText)
	if err != nil || len(keys.Ed25519) != 1 || !keys.Ed25519[0].Equal(testKey(t).Public()) || len(keys.RSA) != 1 {
		t.Errorf("public key endpoint: %d Ed25519 and %d RSA keys (%v), want the simulator's one of each", len(keys.Ed25519), len(keys.RSA), err)
	}
	wh := admin("POST", "/admin/webhooks", map[string]any{"url": f.hook.srv.URL, "duplicateRate": 0.5, "delayMs": 10, "sign": "both", "retryIntervalMs": 1500, "maxRetries": 3}, 200)
	if wh["duplicateRate"] != 0.5 || wh["delayMs"] != float64(10) || wh["sign"] != "both" || wh["retryIntervalMs"] != float64(1500) ||
		wh["retryJitterMs"] != float64(250) || wh["maxRetries"] != float64(3) || f.sim.Webhooks().Key == nil {
		t.Errorf("POST /admin/webhooks = %v", wh)
	}
	admin("POST", "/admin/webhooks", map[string]any{"url": f.hook.srv.URL, "sign": "rot13"}, 422)
	signed := []byte(`{"type":"ContactCreate","webhookId":"w"}`)
	sigs := admin("POST", "/admin/webhooks/sign", json.RawMessage(signed), 200)
	h := http.Header{}
	h.Set(ghl.SignatureHeader, fmt.Sprint(sigs[ghl.SignatureHeader]))
	if _, err := ghl.VerifyWebhook(signed, h, keys); err != nil {
		t.Errorf("POST /admin/webhooks/sign: X-GHL-Signature %v", err)
	}
	if err := ghl.VerifySignature(signed, fmt.Sprint(sigs[ghl.LegacySignatureHeader]), keys.RSA...); err != nil {
		t.Errorf("POST /admin/webhooks/sign: X-WH-Signature %v", err)
	}
	if st := f.sim.Stats(); st.Writes != 0 {
		t.Errorf("admin edits counted as API writes: %d", st.Writes)
	}
	// The private token registered over HTTP works.
	if st, _, _ := f.call(t, "GET", "/locations/loc-2/customFields", "pit-2", nil); st != http.StatusOK {
		t.Errorf("registered token: %d", st)
	}
}
