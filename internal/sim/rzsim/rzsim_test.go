package rzsim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/sim/rzsim"
)

const token = "tok-test"

var (
	idRE   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

type harness struct {
	t   *testing.T
	sim *rzsim.Server
	url string
}

func newHarness(t *testing.T, opts rzsim.Options) *harness {
	t.Helper()
	opts.Tokens = append(opts.Tokens, token)
	sim := rzsim.New(opts)
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(ts.Close)
	return &harness{t: t, sim: sim, url: ts.URL}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not an object: %v", r.body, err)
	}
	return m
}

func (r response) array(t *testing.T) []map[string]any {
	t.Helper()
	var a []map[string]any
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("body %q is not an array: %v", r.body, err)
	}
	return a
}

// expectError checks status and error code under the given key.
func (r response) expectError(t *testing.T, status int, key, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if got := r.object(t)[key]; got != code {
		t.Fatalf("%s = %v, want %s (body %s)", key, got, code, r.body)
	}
}

// do sends a request; header "auth" sets the bearer token, other keys are plain headers.
func (h *harness) do(method, path string, body any, headers map[string]string) response {
	h.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range headers {
		if k == "auth" {
			req.Header.Set("Authorization", "Bearer "+v)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
}

func (h *harness) api(method, path string, body any) response {
	h.t.Helper()
	return h.do(method, path, body, map[string]string{"auth": token})
}

func (h *harness) admin(method, path string, body any) response {
	h.t.Helper()
	return h.do(method, path, body, map[string]string{rzsim.AdminAccountHeader: token})
}

func (h *harness) create(body map[string]any) map[string]any {
	h.t.Helper()
	r := h.api("POST", "/v1/contacts", body)
	if r.status != http.StatusCreated {
		h.t.Fatalf("create: %d %s", r.status, r.body)
	}
	return r.object(h.t)
}

func TestAuth(t *testing.T) {
	h := newHarness(t, rzsim.Options{})
	h.do("GET", "/v1/contacts", nil, nil).expectError(t, 401, "errorCode", "UNAUTHORIZED")
	h.do("GET", "/v1/contacts", nil, map[string]string{"auth": "wrong"}).expectError(t, 401, "errorCode", "UNAUTHORIZED")
	h.do("GET", "/v1/contacts", nil, map[string]string{"Authorization": "Basic " + token}).expectError(t, 401, "errorCode", "UNAUTHORIZED")
	if r := h.api("GET", "/v1/contacts", nil); r.status != 200 {
		t.Fatalf("good token: %d %s", r.status, r.body)
	}
	other := "tok-other"
	if a, b := h.sim.AddAccount(other), h.sim.AddAccount(other); a != b || !idRE.MatchString(string(a)) {
		t.Fatalf("AddAccount not idempotent or odd id: %q %q", a, b)
	}
	h.create(map[string]any{"email": "a@example.com"})
	if r := h.do("GET", "/v1/contacts", nil, map[string]string{"auth": other}); len(r.array(t)) != 0 {
		t.Fatalf("accounts are not isolated: %s", r.body)
	}
}

func TestContactLifecycleAndFullReplace(t *testing.T) {
	h := newHarness(t, rzsim.Options{})
	c := h.create(map[string]any{
		"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com", "phone": "+1 555 010 2000",
		"birthDate": "1815-12-10", "labels": []string{"vip", "vip", " gym "}, "loyaltyPoints": 120,
		"shouldSendNotification": false, "unsubscribedFromText": true,
	})
	id, _ := c["id"].(string)
	if !idRE.MatchString(id) {
		t.Fatalf("id %q is not 32-char lowercase hex", id)
	}
	for _, k := range []string{"createdAt", "updatedAt"} {
		if s, _ := c[k].(string); !timeRE.MatchString(s) {
			t.Fatalf("%s = %q, want ISO 8601 UTC with milliseconds", k, s)
		}
	}
	if got := fmt.Sprint(c["labels"]); got != "[vip gym]" {
		t.Fatalf("labels = %s, want trimmed and de-duplicated [vip gym]", got)
	}
	if c["loyaltyPoints"] != 120.0 || c["unsubscribedFromText"] != true {
		t.Fatalf("unknown field or flag lost: %v", c)
	}
	if _, stored := c["shouldSendNotification"]; stored {
		t.Fatal("shouldSendNotification is an instruction and should not be stored")
	}

	got := h.api("GET", "/v1/contacts/"+id, nil)
	if got.status != 200 || got.object(t)["email"] != "ada@example.com" {
		t.Fatalf("get: %d %s", got.status, got.body)
	}

	// PUT replaces everything: lastName, labels and loyaltyPoints are left out, so cleared.
	put := h.api("PUT", "/v1/contacts/"+id, map[string]any{"id": id, "firstName": "Ada", "email": "ada@example.com", "createdAt": "2000-01-01T00:00:00.000Z"})
	if put.status != 200 {
		t.Fatalf("put: %d %s", put.status, put.body)
	}
	p := put.object(t)
	if p["lastName"] != nil || len(p["labels"].([]any)) != 0 || p["loyaltyPoints"] != nil || p["unsubscribedFromText"] != false {
		t.Fatalf("PUT did not replace the whole contact: %s", put.body)
	}
	if p["createdAt"] != c["createdAt"] {
		t.Fatalf("createdAt changed by a body value: %v -> %v", c["createdAt"], p["createdAt"])
	}

	h.api("PUT", "/v1/contacts/"+id, map[string]any{"id": strings.Repeat("0", 32), "email": "x@example.com"}).
		expectError(t, 400, "errorCode", "ILLEGAL_ARGUMENT")
	h.api("PUT", "/v1/contacts/"+strings.Repeat("f", 32), map[string]any{"email": "x@example.com"}).
		expectError(t, 404, "errorCode", "RESOURCE_NOT_FOUND")

	if r := h.api("DELETE", "/v1/contacts/"+id, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	h.api("GET", "/v1/contacts/"+id, nil).expectError(t, 404, "errorCode", "RESOURCE_NOT_FOUND")
	h.api("DELETE", "/v1/contacts/"+id, nil).expectError(t, 404, "errorCode", "RESOURCE_NOT_FOUND")
	// The email is free again.
	h.create(map[string]any{"email": "ADA@example.com"})
}

func TestNoOpPutKeepsUpdatedAt(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	h := newHarness(t, rzsim.Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	c := h.create(map[string]any{"email": "a@example.com", "firstName": "A"})
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	same := h.api("PUT", "/v1/contacts/"+c["id"].(string), c).object(t)
	if same["updatedAt"] != c["updatedAt"] {
		t.Fatalf("no-op PUT moved updatedAt: %v -> %v", c["updatedAt"], same["updatedAt"])
	}
	c["firstName"] = "B"
	changed := h.api("PUT", "/v1/contacts/"+c["id"].(string), c).object(t)
	if changed["updatedAt"] != "2025-03-01T12:01:00.000Z" {
		t.Fatalf("updatedAt = %v after a change", changed["updatedAt"])
	}
}

func TestContactValidation(t *testing.T) {
	h := newHarness(t, rzsim.Options{})
	first := h.create(map[string]any{"email": "Taken@Example.com"})
	other := h.create(map[string]any{"phone": "555-0100"})
	cases := []struct {
		name string
		body any
		code string
	}{
		{"no email or phone", map[string]any{"firstName": "Solo"}, "MISSING_REQUIRED_FIELD"},
		{"blank email and phone", map[string]any{"email": " ", "phone": ""}, "MISSING_REQUIRED_FIELD"},
		{"bad email", map[string]any{"email": "not-an-email"}, "ILLEGAL_ARGUMENT"},
		{"duplicate email ignoring case", map[string]any{"email": "taken@example.COM"}, "RESOURCE_ALREADY_EXISTS"},
		{"bad birthDate", map[string]any{"email": "b@example.com", "birthDate": "10/12/1815"}, "ILLEGAL_ARGUMENT"},
		{"firstName not a string", map[string]any{"email": "b@example.com", "firstName": 5}, "ILLEGAL_ARGUMENT"},
		{"labels not strings", map[string]any{"email": "b@example.com", "labels": []any{1}}, "ILLEGAL_ARGUMENT"},
		{"empty label", map[string]any{"email": "b@example.com", "labels": []any{" "}}, "ILLEGAL_ARGUMENT"},
		{"flag not a bool", map[string]any{"email": "b@example.com", "unsubscribedFromEmail": "yes"}, "ILLEGAL_ARGUMENT"},
		{"phone without digits", map[string]any{"phone": "n/a"}, "ILLEGAL_ARGUMENT"},
		{"undefined custom field", map[string]any{"email": "b@example.com", "customFields": map[string]any{"Nope": "x"}}, "INVALID_CUSTOM_FIELD_NAME"},
		{"not an object", []int{1}, "ILLEGAL_ARGUMENT"},
		{"not JSON", "{", "ILLEGAL_ARGUMENT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.api("POST", "/v1/contacts", tc.body).expectError(t, 400, "errorCode", tc.code)
		})
	}
	// Taking another contact's email on update is a duplicate too; keeping one's own is not.
	h.api("PUT", "/v1/contacts/"+other["id"].(string), map[string]any{"email": "TAKEN@example.com"}).
		expectError(t, 400, "errorCode", "RESOURCE_ALREADY_EXISTS")
	if r := h.api("PUT", "/v1/contacts/"+first["id"].(string), map[string]any{"email": "taken@example.com"}); r.status != 200 {
		t.Fatalf("re-casing one's own email: %d %s", r.status, r.body)
	}
	if n := len(h.sim.Contacts(token)); n != 2 {
		t.Fatalf("%d contacts after rejected writes, want 2", n)
	}
}

func TestPagination(t *testing.T) {
	h := newHarness(t, rzsim.Options{})
	var ids []string
	for i := range 65 {
		ids = append(ids, h.create(map[string]any{"email": fmt.Sprintf("p%02d@example.com", i)})["id"].(string))
	}
	pageIDs := func(query string) ([]string, string) {
		r := h.api("GET", "/v1/contacts"+query, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", query, r.status, r.body)
		}
		var out []string
		for _, c := range r.array(t) {
			out = append(out, c["id"].(string))
		}
		return out, r.header.Get("X-Total-Count")
	}
	p1, total := pageIDs("")
	if len(p1) != rzsim.DefaultPerPage || total != "65" || p1[0] != ids[0] {
		t.Fatalf("default page: %d items, total %q", len(p1), total)
	}
	p3, _ := pageIDs("?page=3")
	if len(p3) != 5 || p3[4] != ids[64] {
		t.Fatalf("page 3: %v", p3)
	}
	all, _ := pageIDs("?perPage=100")
	if fmt.Sprint(all) != fmt.Sprint(ids) {
		t.Fatal("perPage=100 is not creation order")
	}
	desc, _ := pageIDs("?perPage=2&order=desc&sort=createdAt")
	if fmt.Sprint(desc) != fmt.Sprint([]string{ids[64], ids[63]}) {
		t.Fatalf("order=desc: %v", desc)
	}
	beyond, total := pageIDs("?page=9&perPage=10")
	if len(beyond) != 0 || total != "65" {
		t.Fatalf("past the end: %v total %q", beyond, total)
	}
	for _, q := range []string{"?perPage=101", "?perPage=0", "?page=0", "?page=-1", "?perPage=abc", "?page=1.5", "?sort=email", "?order=up"} {
		h.api("GET", "/v1/contacts"+q, nil).expectError(t, 400, "errorCode", "ILLEGAL_ARGUMENT")
	}
}

func TestFilters(t *testing.T) {
	h := newHarness(t, rzsim.Options{})
	h.create(map[string]any{"email": "Mixed.Case@Example.com"})
	h.create(map[string]any{"email": "other@example.com", "phone": "+1 (555) 010-2000"})
	h.create(map[string]any{"phone": "5550102000"})
	count := func(q string) int {
		r := h.api("GET", "/v1/contacts?"+q, nil)
		if r.status != 200 || r.header.Get("X-Total-Count") != fmt.Sprint(len(r.array(t))) {
			t.Fatalf("%s: %d %s total %q", q, r.status, r.body, r.header.Get("X-Total-Count"))
		}
		return len(r.array(t))
	}
	for q, want := range map[string]int{
		"email=mixed.case%40example.com":             1,
		"email=mixed":                                0,
		"phone=15550102000":                          1,
		"phone=%2B1-555-010-2000":                    1,
		"phone=5550102000":                           1,
		"phone=none":                                 0,
		"email=other%40example.com&phone=5550102000": 0,
	} {
		if got := count(q); got != want {
			t.Errorf("%s: %d matches, want %d", q, got, want)
		}
	}
}

func TestEnvelopeShapeAndCodeKey(t *testing.T) {
	h := newHarness(t, rzsim.Options{ListShape: rzsim.ListEnvelope, ErrorCodeKey: "code", OmitTimestamps: true})
	h.create(map[string]any{"email": "a@example.com"})
	r := h.api("GET", "/v1/contacts", nil)
	env := r.object(t)
	if env["total"] != 1.0 || env["page"] != 1.0 || len(env["data"].([]any)) != 1 || r.header.Get("X-Total-Count") != "1" {
		t.Fatalf("envelope: %s", r.body)
	}
	if c := env["data"].([]any)[0].(map[string]any); c["createdAt"] != nil || c["updatedAt"] != nil {
		t.Fatalf("timestamps not omitted: %v", c)
	}
	h.api("POST", "/v1/contacts", map[string]any{}).expectError(t, 400, "code", "MISSING_REQUIRED_FIELD")
}

func TestCustomFields(t *testing.T) {
	h := newHarness(t, rzsim.Options{})
	r := h.api("POST", "/v1/custom-fields", map[string]any{"name": "GHL Notes", "type": "TEXT"})
	if r.status != 201 {
		t.Fatalf("create field: %d %s", r.status, r.body)
	}
	notes := r.object(t)
	tier := h.api("POST", "/v1/custom-fields", map[string]any{"name": "Tier", "type": "DROPDOWN", "options": []string{"gold", "silver"}}).object(t)
	h.api("POST", "/v1/custom-fields", map[string]any{"name": "Visits", "type": "NUMBER"})
	h.api("POST", "/v1/custom-fields", map[string]any{"name": "Joined", "type": "DATE"})

	for _, tc := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"name": "ghl notes", "type": "TEXT"}, "NOT_UNIQUE"},
		{map[string]any{"name": "bad/name", "type": "TEXT"}, "INVALID_CUSTOM_FIELD_NAME"},
		{map[string]any{"name": " padded", "type": "TEXT"}, "INVALID_CUSTOM_FIELD_NAME"},
		{map[string]any{"name": "Email", "type": "TEXT"}, "INVALID_CUSTOM_FIELD_NAME"},
		{map[string]any{"name": strings.Repeat("x", 51), "type": "TEXT"}, "INVALID_CUSTOM_FIELD_NAME"},
		{map[string]any{"name": "", "type": "TEXT"}, "MISSING_REQUIRED_FIELD"},
		{map[string]any{"name": "NoType"}, "MISSING_REQUIRED_FIELD"},
		{map[string]any{"name": "Lower", "type": "text"}, "ILLEGAL_ARGUMENT"},
		{map[string]any{"name": "Opts", "type": "TEXT", "options": []string{"a"}}, "ILLEGAL_ARGUMENT"},
		{map[string]any{"name": "Empty", "type": "DROPDOWN"}, "MISSING_REQUIRED_FIELD"},
		{map[string]any{"name": "Dups", "type": "DROPDOWN", "options": []string{"a", "a"}}, "ILLEGAL_ARGUMENT"},
	} {
		h.api("POST", "/v1/custom-fields", tc.body).expectError(t, 400, "errorCode", tc.code)
	}

	list := h.api("GET", "/v1/custom-fields", nil).array(t)
	if len(list) != 4 || list[0]["name"] != "GHL Notes" || fmt.Sprint(list[1]["options"]) != "[gold silver]" {
		t.Fatalf("list: %v", list)
	}

	// Values by name or by id; stored and returned by name.
	c := h.create(map[string]any{"email": "a@example.com", "customFields": map[string]any{
		"GHL Notes": "note", tier["id"].(string): "gold", "Visits": 3, "Joined": "2024-01-31",
	}})
	cf := c["customFields"].(map[string]any)
	if cf["GHL Notes"] != "note" || cf["Tier"] != "gold" || cf["Visits"] != 3.0 || cf["Joined"] != "2024-01-31" {
		t.Fatalf("customFields: %v", cf)
	}
	id := c["id"].(string)
	for _, bad := range []map[string]any{
		{"GHL Notes": 5},
		{"GHL Notes": strings.Repeat("é", rzsim.MaxTextValueLen+1)},
		{"Tier": "bronze"},
		{"Visits": "three"},
		{"Joined": "31/01/2024"},
	} {
		h.api("PUT", "/v1/contacts/"+id, map[string]any{"email": "a@example.com", "customFields": bad}).
			expectError(t, 400, "errorCode", "ILLEGAL_ARGUMENT")
	}
	if r := h.api("PUT", "/v1/contacts/"+id, map[string]any{"email": "a@example.com", "customFields": map[string]any{"GHL Notes": strings.Repeat("é", rzsim.MaxTextValueLen), "Tier": nil}}); r.status != 200 {
		t.Fatalf("max-length value and null: %d %s", r.status, r.body)
	} else if _, ok := r.object(t)["customFields"].(map[string]any)["Tier"]; ok {
		t.Fatal("null did not clear the value")
	}

	// Rename: the contact's key follows; the old name is free, the new one taken.
	notesID := notes["id"].(string)
	h.api("PUT", "/v1/custom-fields/"+notesID+"/name", map[string]any{"name": "tier"}).expectError(t, 400, "errorCode", "NOT_UNIQUE")
	h.api("PUT", "/v1/custom-fields/"+notesID+"/name", map[string]any{"name": "a/b"}).expectError(t, 400, "errorCode", "INVALID_CUSTOM_FIELD_NAME")
	h.api("PUT", "/v1/custom-fields/"+strings.Repeat("0", 32)+"/name", map[string]any{"name": "X"}).expectError(t, 404, "errorCode", "RESOURCE_NOT_FOUND")
	if r := h.api("PUT", "/v1/custom-fields/"+notesID+"/name", map[string]any{"name": "HighLevel Notes"}); r.status != 200 || r.object(t)["name"] != "HighLevel Notes" {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	got := h.api("GET", "/v1/contacts/"+id, nil).object(t)["customFields"].(map[string]any)
	if _, ok := got["HighLevel Notes"]; !ok || got["GHL Notes"] != nil {
		t.Fatalf("values did not follow the rename: %v", got)
	}

	// Options.
	h.api("PUT", "/v1/custom-fields/"+notesID+"/options", map[string]any{"options": []string{"a"}}).expectError(t, 400, "errorCode", "ILLEGAL_ARGUMENT")
	h.api("PUT", "/v1/custom-fields/"+tier["id"].(string)+"/options", map[string]any{}).expectError(t, 400, "errorCode", "MISSING_REQUIRED_FIELD")
	if r := h.api("PUT", "/v1/custom-fields/"+tier["id"].(string)+"/options", map[string]any{"options": []string{"gold", "bronze"}}); r.status != 200 || fmt.Sprint(r.object(t)["options"]) != "[gold bronze]" {
		t.Fatalf("set options: %d %s", r.status, r.body)
	}
	if fs := h.sim.CustomFields(token); len(fs) != 4 || fs[0].Name != "HighLevel Notes" {
		t.Fatalf("CustomFields: %+v", fs)
	}
}

func TestVisitsAndActivities(t *testing.T) {
	now := time.Date(2025, 6, 15, 15, 30, 0, 0, time.UTC)
	h := newHarness(t, rzsim.Options{Now: func() time.Time { return now }})
	c := h.create(map[string]any{"email": "v@example.com"})
	id := c["id"].(string)
	h.api("PUT", "/v1/contacts/"+id, map[string]any{"email": "v@example.com", "firstName": "Vee"})

	r := h.api("POST", "/v1/visits", map[string]any{"contactId": id, "points": 10, "amountSpent": 25.5})
	if r.status != 201 {
		t.Fatalf("visit: %d %s", r.status, r.body)
	}
	if v := r.object(t); !idRE.MatchString(v["id"].(string)) || v["date"] != "2025-06-15T15:30:00.000Z" || v["points"] != 10.0 {
		t.Fatalf("visit body: %v", v)
	}
	h.api("POST", "/v1/visits", map[string]any{"contactId": id, "date": "2025-06-15T08:00:00Z"}).expectError(t, 400, "errorCode", "CONTACT_ALREADY_CHECKED_IN")
	h.api("POST", "/v1/visits", map[string]any{"contactId": id, "date": "2025-06-15T15:31:00.000Z"}).expectError(t, 400, "errorCode", "VISIT_DATE_IN_FUTURE")
	h.api("POST", "/v1/visits", map[string]any{"contactId": id, "date": "2025-06-16"}).expectError(t, 400, "errorCode", "VISIT_DATE_IN_FUTURE")
	h.api("POST", "/v1/visits", map[string]any{"contactId": id, "date": "yesterday"}).expectError(t, 400, "errorCode", "ILLEGAL_ARGUMENT")
	h.api("POST", "/v1/visits", map[string]any{"contactId": id, "points": -1}).expectError(t, 400, "errorCode", "ILLEGAL_ARGUMENT")
	h.api("POST", "/v1/visits", map[string]any{"points": 1}).expectError(t, 400, "errorCode", "MISSING_REQUIRED_FIELD")
	h.api("POST", "/v1/visits", map[string]any{"contactId": strings.Repeat("0", 32)}).expectError(t, 404, "errorCode", "RESOURCE_NOT_FOUND")
	if r := h.api("POST", "/v1/visits", map[string]any{"contactId": id, "date": "2025-06-10"}); r.status != 201 {
		t.Fatalf("past visit: %d %s", r.status, r.body)
	}
	if n := h.sim.Stats().Notifications; n != 1 {
		t.Fatalf("notifications = %d, want 1 (today's visit only; a past date suppresses it)", n)
	}
	if vs := h.sim.Visits(token); len(vs) != 2 || vs[1].Date != "2025-06-10T00:00:00.000Z" {
		t.Fatalf("Visits: %+v", vs)
	}

	acts := h.api("GET", "/v1/contacts/"+id+"/activities", nil)
	var types []string
	for _, a := range acts.array(t) {
		types = append(types, a["type"].(string))
		if !timeRE.MatchString(a["date"].(string)) || !idRE.MatchString(a["id"].(string)) {
			t.Fatalf("activity shape: %v", a)
		}
	}
	// Newest first by date; the back-dated visit sorts by its own date.
	if fmt.Sprint(types) != "[VISIT CONTACT_UPDATED CONTACT_CREATED VISIT]" || acts.header.Get("X-Total-Count") != "4" {
		t.Fatalf("timeline: %v (total %s)", types, acts.header.Get("X-Total-Count"))
	}
	if strings.Contains(string(acts.body), "Vee") {
		t.Fatal("timeline copies personal data")
	}
	if n := len(h.api("GET", "/v1/contacts/"+id+"/activities?type=VISIT&perPage=1", nil).array(t)); n != 1 {
		t.Fatalf("type+perPage filter: %d", n)
	}
	if a := h.api("GET", "/v1/contacts/"+id+"/activities?beforeDate=2025-06-12T00:00:00.000Z", nil).array(t); len(a) != 1 || a[0]["type"] != "VISIT" {
		t.Fatalf("beforeDate filter: %v", a)
	}
	h.api("GET", "/v1/contacts/"+id+"/activities?perPage=101", nil).expectError(t, 400, "errorCode", "ILLEGAL_ARGUMENT")
	h.api("GET", "/v1/contacts/"+id+"/activities?beforeDate=soon", nil).expectError(t, 400, "errorCode", "ILLEGAL_ARGUMENT")
	h.api("GET", "/v1/contacts/"+strings.Repeat("0", 32)+"/activities", nil).expectError(t, 404, "errorCode", "RESOURCE_NOT_FOUND")
}

func TestAdminEndpoints(t *testing.T) {
	h := newHarness(t, rzsim.Options{})
	if r := h.do("POST", "/admin/accounts", map[string]any{"token": "tok-2"}, nil); r.status != 201 || !idRE.MatchString(r.object(t)["accountId"].(string)) {
		t.Fatalf("add account: %d %s", r.status, r.body)
	}
	h.do("POST", "/admin/accounts", map[string]any{}, nil).expectError(t, 400, "errorCode", "MISSING_REQUIRED_FIELD")
	h.api("POST", "/v1/custom-fields", map[string]any{"name": "Tier", "type": "TEXT"})
	h.sim.ResetStats()

	r := h.admin("POST", "/admin/contacts", map[string]any{"firstName": "Pat", "lastName": "Lee", "email": "pat@example.com", "loyaltyPoints": 7, "customFields": map[string]any{"Tier": "gold"}})
	if r.status != 201 {
		t.Fatalf("admin create: %d %s", r.status, r.body)
	}
	id := r.object(t)["id"].(string)
	h.admin("POST", "/admin/contacts", map[string]any{"email": "PAT@example.com"}).expectError(t, 400, "errorCode", "RESOURCE_ALREADY_EXISTS")

	// Merge-patch edit: set one field, clear another, touch nothing else.
	r = h.admin("PATCH", "/admin/contacts/"+id, map[string]any{"firstName": "Patricia", "lastName": nil, "customFields": map[string]any{"Tier": nil}})
	p := r.object(t)
	if r.status != 200 || p["firstName"] != "Patricia" || p["lastName"] != nil || p["loyaltyPoints"] != 7.0 || len(p["customFields"].(map[string]any)) != 0 {
		t.Fatalf("admin patch: %d %s", r.status, r.body)
	}
	if r := h.admin("POST", "/admin/contacts/"+id+"/labels", map[string]any{"label": "follow-up"}); fmt.Sprint(r.object(t)["labels"]) != "[follow-up]" {
		t.Fatalf("add label: %s", r.body)
	}
	h.admin("POST", "/admin/contacts/"+id+"/labels", map[string]any{}).expectError(t, 400, "errorCode", "MISSING_REQUIRED_FIELD")
	if r := h.admin("DELETE", "/admin/contacts/"+id+"/labels/follow-up", nil); fmt.Sprint(r.object(t)["labels"]) != "[]" {
		t.Fatalf("remove label: %s", r.body)
	}
	if r := h.admin("GET", "/admin/contacts/"+id, nil); r.status != 200 || r.object(t)["firstName"] != "Patricia" {
		t.Fatalf("admin get: %d %s", r.status, r.body)
	}
	if list := h.admin("GET", "/admin/contacts", nil).array(t); len(list) != 1 {
		t.Fatalf("admin list: %v", list)
	}
	if r := h.admin("DELETE", "/admin/contacts/"+id, nil); r.status != 204 {
		t.Fatalf("admin delete: %d %s", r.status, r.body)
	}
	h.admin("DELETE", "/admin/contacts/"+id, nil).expectError(t, 404, "errorCode", "RESOURCE_NOT_FOUND")
	h.admin("GET", "/admin/contacts/"+id, nil).expectError(t, 404, "errorCode", "RESOURCE_NOT_FOUND")
	h.do("GET", "/admin/contacts", nil, map[string]string{rzsim.AdminAccountHeader: "nobody"}).expectError(t, 401, "errorCode", "UNKNOWN_ACCOUNT")
	h.do("GET", "/admin/nope", nil, nil).expectError(t, 404, "errorCode", "RESOURCE_NOT_FOUND")

	// The Go methods do the same.
	c, err := h.sim.AdminCreateContact(token, rzsim.Contact{Email: "go@example.com", Extra: map[string]json.RawMessage{"loyaltyPoints": json.RawMessage("3")}})
	if err != nil || !idRE.MatchString(c.ID) || string(c.Extra["loyaltyPoints"]) != "3" {
		t.Fatalf("AdminCreateContact: %+v %v", c, err)
	}
	if _, err := h.sim.AdminAddLabel(token, c.ID, "vip"); err != nil {
		t.Fatal(err)
	}
	c, err = h.sim.AdminUpdateContact(token, c.ID, func(c *rzsim.Contact) { c.FirstName = "Go" })
	if err != nil || c.FirstName != "Go" || fmt.Sprint(c.Labels) != "[vip]" {
		t.Fatalf("AdminUpdateContact: %+v %v", c, err)
	}
	if c, err = h.sim.AdminRemoveLabel(token, c.ID, "vip"); err != nil || len(c.Labels) != 0 {
		t.Fatalf("AdminRemoveLabel: %+v %v", c, err)
	}
	if _, err := h.sim.AdminCreateContact(token, rzsim.Contact{FirstName: "No Email"}); err == nil || !strings.Contains(err.Error(), "MISSING_REQUIRED_FIELD") {
		t.Fatalf("AdminCreateContact without email: %v", err)
	}
	if _, err := h.sim.AdminCreateContact("nobody", rzsim.Contact{Email: "x@example.com"}); err == nil {
		t.Fatal("AdminCreateContact on an unknown account succeeded")
	}
	if err := h.sim.AdminDeleteContact(token, c.ID); err != nil {
		t.Fatal(err)
	}
	if st := h.sim.Stats(); st.Total != 0 || st.Writes != 0 {
		t.Fatalf("admin calls were counted as API calls: %+v", st)
	}
}

func TestStatsAndFaults(t *testing.T) {
	h := newHarness(t, rzsim.Options{})
	c := h.create(map[string]any{"email": "s@example.com", "shouldSendNotification": true})
	h.api("GET", "/v1/contacts/"+c["id"].(string), nil)
	h.api("GET", "/v1/contacts/"+c["id"].(string), nil)
	h.api("GET", "/v1/nope", nil).expectError(t, 404, "errorCode", "RESOURCE_NOT_FOUND")
	h.do("GET", "/v1/contacts", nil, nil) // 401 still counts: the call was made

	var st rzsim.Stats
	if err := json.Unmarshal(h.do("GET", "/admin/stats", nil, nil).body, &st); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"POST /v1/contacts": 1, "GET /v1/contacts/{id}": 2, "GET (unmatched)": 1, "GET /v1/contacts": 1}
	if fmt.Sprint(st.Calls) != fmt.Sprint(want) || st.Total != 5 || st.Writes != 1 || st.Notifications != 1 {
		t.Fatalf("stats = %+v, want calls %v, 5 total, 1 write, 1 notification", st, want)
	}

	// Forced 429s with Retry-After in seconds, then normal service.
	if r := h.do("POST", "/admin/faults", map[string]any{"forceStatus": 429, "forceCount": 2, "retryAfterSeconds": 3}, nil); r.status != 200 {
		t.Fatalf("set faults: %d %s", r.status, r.body)
	}
	for range 2 {
		r := h.api("GET", "/v1/contacts", nil)
		r.expectError(t, 429, "errorCode", "TOO_MANY_REQUESTS")
		if r.header.Get("Retry-After") != "3" {
			t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
		}
	}
	if r := h.api("GET", "/v1/contacts", nil); r.status != 200 {
		t.Fatalf("after forced faults: %d", r.status)
	}
	if f := h.sim.Faults(); f.ForceCount != 0 || f.RetryAfterSeconds != 3 {
		t.Fatalf("faults after use: %+v", f)
	}

	// Retry-After as an HTTP date; forced 500 via the Go method.
	if err := h.sim.SetFaults(rzsim.Faults{RateLimitRate: 1, RetryAfterSeconds: 2, RetryAfterHTTPDate: true}); err != nil {
		t.Fatal(err)
	}
	r := h.api("GET", "/v1/contacts", nil)
	if at, err := http.ParseTime(r.header.Get("Retry-After")); r.status != 429 || err != nil || time.Until(at) > 3*time.Second {
		t.Fatalf("HTTP-date Retry-After: %d %q %v", r.status, r.header.Get("Retry-After"), err)
	}
	if err := h.sim.SetFaults(rzsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.ForceNext(503, 1); err != nil {
		t.Fatal(err)
	}
	h.api("GET", "/v1/contacts", nil).expectError(t, 503, "errorCode", "INTERNAL_SERVER_ERROR")
	if err := h.sim.SetFaults(rzsim.Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	h.api("POST", "/v1/contacts", map[string]any{"email": "never@example.com"}).expectError(t, 500, "errorCode", "INTERNAL_SERVER_ERROR")
	if len(h.sim.Contacts(token)) != 1 {
		t.Fatal("a faulted write was applied")
	}

	// Latency.
	if err := h.sim.SetFaults(rzsim.Faults{LatencyMs: 50}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	h.api("GET", "/v1/contacts", nil)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("latency fault: call took %v", d)
	}

	for _, bad := range []string{`{"errorRate": 2}`, `{"forceStatus": 200, "forceCount": 1}`, `{"latencyMs": -1}`, `{"eror_rate": 0.5}`} {
		h.do("POST", "/admin/faults", bad, nil).expectError(t, 400, "errorCode", "ILLEGAL_ARGUMENT")
	}
	if err := h.sim.SetFaults(rzsim.Faults{RateLimitRate: -0.1}); err == nil {
		t.Fatal("SetFaults accepted a negative rate")
	}
	var f rzsim.Faults
	if err := json.Unmarshal(h.do("GET", "/admin/faults", nil, nil).body, &f); err != nil || f.LatencyMs != 50 {
		t.Fatalf("GET /admin/faults: %+v %v", f, err)
	}
	st = h.sim.Stats()
	if st.Faulted != 5 || st.Writes != 2 {
		t.Fatalf("faulted = %d, writes = %d; want 5 and 2", st.Faulted, st.Writes)
	}
	if r := h.do("DELETE", "/admin/stats", nil, nil); r.status != 204 || h.sim.Stats().Total != 0 {
		t.Fatalf("reset stats: %d", r.status)
	}
}

// TestFaultsAreReproducible: the same seed and call sequence give the same faults.
func TestFaultsAreReproducible(t *testing.T) {
	run := func(seed uint64) string {
		h := newHarness(t, rzsim.Options{Seed: seed})
		if err := h.sim.SetFaults(rzsim.Faults{ErrorRate: 0.3, RateLimitRate: 0.2}); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for range 60 {
			fmt.Fprintf(&b, "%d ", h.api("GET", "/v1/contacts", nil).status)
		}
		return b.String()
	}
	a, b, c := run(42), run(42), run(43)
	if a != b {
		t.Fatalf("same seed, different faults:\n%s\n%s", a, b)
	}
	if a == c {
		t.Fatal("different seeds gave identical fault sequences")
	}
	if !strings.Contains(a, "500") || !strings.Contains(a, "429") || !strings.Contains(a, "200") {
		t.Fatalf("expected a mix of statuses: %s", a)
	}
	// ids are reproducible too.
	s1, s2 := rzsim.New(rzsim.Options{Seed: 7}), rzsim.New(rzsim.Options{Seed: 7})
	if s1.AddAccount("x") != s2.AddAccount("x") {
		t.Fatal("ids are not reproducible for a seed")
	}
}

func TestBodyLimit(t *testing.T) {
	h := newHarness(t, rzsim.Options{})
	big := `{"email":"big@example.com","description":"` + strings.Repeat("x", rzsim.MaxBodyBytes) + `"}`
	h.api("POST", "/v1/contacts", big).expectError(t, 413, "errorCode", "PAYLOAD_TOO_LARGE")
	h.admin("POST", "/admin/contacts", big).expectError(t, 413, "errorCode", "PAYLOAD_TOO_LARGE")
	if len(h.sim.Contacts(token)) != 0 {
		t.Fatal("an oversized body created a contact")
	}
}

func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, rzsim.Options{})
	const workers, each = 8, 15
	var wg sync.WaitGroup
	errs := make(chan string, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body, _ := json.Marshal(map[string]any{"email": fmt.Sprintf("w%d-%d@example.com", w, i)})
				req, _ := http.NewRequest("POST", h.url+"/v1/contacts", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != 201 {
					errs <- resp.Status
				}
				if _, err := h.sim.AdminUpdateContact(token, "missing", func(*rzsim.Contact) {}); err == nil {
					errs <- "update of a missing contact succeeded"
				}
				_ = h.sim.Stats()
				_ = h.sim.Snapshot()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	cs := h.sim.Contacts(token)
	seen := map[string]bool{}
	for _, c := range cs {
		seen[c.ID] = true
	}
	if len(cs) != workers*each || len(seen) != len(cs) {
		t.Fatalf("%d contacts, %d distinct ids; want %d", len(cs), len(seen), workers*each)
	}
	snap := h.sim.Snapshot()
	if len(snap) != 1 {
		t.Fatalf("snapshot has %d accounts", len(snap))
	}
	for _, list := range snap {
		if len(list) != workers*each {
			t.Fatalf("snapshot has %d contacts", len(list))
		}
	}
}

func TestContactJSONRoundTrip(t *testing.T) {
	in := rzsim.Contact{
		ID: strings.Repeat("a", 32), Email: "j@example.com", Labels: []string{"x"},
		CustomFields: map[string]json.RawMessage{"Tier": json.RawMessage(`"gold"`)},
		CreatedAt:    time.Date(2023, 12, 29, 20, 11, 2, 353e6, time.UTC),
		Extra:        map[string]json.RawMessage{"loyaltyPoints": json.RawMessage("5")},
	}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"createdAt":"2023-12-29T20:11:02.353Z"`) || !strings.Contains(string(raw), `"firstName":null`) {
		t.Fatalf("rendering: %s", raw)
	}
	var out rzsim.Contact
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(out)
	if string(again) != string(raw) {
		t.Fatalf("round trip changed the contact:\n%s\n%s", raw, again)
	}
}
