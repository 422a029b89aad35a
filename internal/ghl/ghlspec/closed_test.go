package ghlspec

import (
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func formReq(target, body string) *http.Request {
	r := newReq("POST", target, body)
	r.Header.Del("Authorization")
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// TestClosedRequests plants request bodies the official schemas do not allow: a property the
// DTO does not define (at the top, nested, in an anyOf branch, in a form), a body where the
// operation defines none, and every kind of missing required property. Each must be refused,
// naming the culprit, while the same request without the plant passes.
func TestClosedRequests(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		req       func(body string) *http.Request
		good, bad string
		culprit   string // must appear in the error
	}{
		// Properties the schema does not define.
		{"unknown top-level property", jsonReq("POST", "/contacts/"),
			`{"locationId":"l1","email":"a@b.co"}`, `{"locationId":"l1","email":"a@b.co","nickname":"Al"}`, `"nickname"`},
		{"companyName on update (not in UpdateContactDto)", jsonReq("PUT", "/contacts/c1"),
			`{"city":"Austin"}`, `{"city":"Austin","companyName":"Lee Gym"}`, `"companyName"`},
		{"unknown property in a nested DTO", jsonReq("POST", "/contacts/"),
			`{"locationId":"l1","dndSettings":{"SMS":{"status":"active"}}}`,
			`{"locationId":"l1","dndSettings":{"SMS":{"status":"active","reason":"asked"}}}`, `"reason"`},
		{"unknown DND channel", jsonReq("PUT", "/contacts/c1"),
			`{"dndSettings":{"Email":{"status":"inactive"}}}`, `{"dndSettings":{"Telegram":{"status":"inactive"}}}`, `"Telegram"`},
		{"custom field sent as value instead of field_value (anyOf branches)", jsonReq("PUT", "/contacts/c1"),
			`{"customFields":[{"id":"f1","field_value":"gold"}]}`, `{"customFields":[{"id":"f1","value":"gold"}]}`, "customFields"},
		{"unknown property in a search filter (loader's schema)", jsonReq("POST", "/contacts/search"),
			`{"locationId":"l1","pageLimit":10,"filters":[{"field":"email","operator":"eq","value":"a@b.co"}]}`,
			`{"locationId":"l1","pageLimit":10,"filters":[{"field":"email","operator":"eq","value":"a@b.co","boost":2}]}`, "filters"},
		{"unknown property in a task", jsonReq("POST", "/contacts/c1/tasks"),
			`{"title":"Call","dueDate":"2030-01-02T15:00:00Z","completed":false}`,
			`{"title":"Call","dueDate":"2030-01-02T15:00:00Z","completed":false,"priority":"high"}`, `"priority"`},
		{"unknown property in a task search", jsonReq("POST", "/locations/l1/tasks/search"),
			`{"limit":10,"query":"call"}`, `{"limit":10,"query":"call","status":"open"}`, `"status"`},
		{"unknown form field", formReqOf("/oauth/token"),
			"client_id=a&client_secret=b&grant_type=refresh_token&refresh_token=r",
			"client_id=a&client_secret=b&grant_type=refresh_token&refresh_token=r&scope=all", `"scope"`},
		{"a body where the operation defines none", jsonReq("GET", "/contacts/c1"),
			``, `{"id":"c1"}`, "defines no request body"},

		// Required properties.
		{"create without locationId", jsonReq("POST", "/contacts/"),
			`{"locationId":"l1","email":"a@b.co"}`, `{"email":"a@b.co"}`, `"locationId"`},
		{"upsert without locationId", jsonReq("POST", "/contacts/upsert"),
			`{"locationId":"l1","email":"a@b.co"}`, `{"email":"a@b.co"}`, `"locationId"`},
		{"task without dueDate", jsonReq("POST", "/contacts/c1/tasks"),
			`{"title":"Call","dueDate":"2030-01-02T15:00:00Z","completed":false}`, `{"title":"Call","completed":false}`, `"dueDate"`},
		{"completion without completed", jsonReq("PUT", "/contacts/c1/tasks/t1/completed"),
			`{"completed":true}`, `{}`, `"completed"`},
		{"note without body", jsonReq("POST", "/contacts/c1/notes"), `{"body":"hi"}`, `{"title":"hi"}`, `"body"`},
		{"tags without tags", jsonReq("POST", "/contacts/c1/tags"), `{"tags":["a"]}`, `{}`, `"tags"`},
		{"nested DND setting without status", jsonReq("POST", "/contacts/"),
			`{"locationId":"l1","dndSettings":{"SMS":{"status":"active","message":"x"}}}`,
			`{"locationId":"l1","dndSettings":{"SMS":{"message":"x"}}}`, `"status"`},
		{"custom field without id (every anyOf branch requires it)", jsonReq("POST", "/contacts/"),
			`{"locationId":"l1","customFields":[{"id":"f1","field_value":"gold"}]}`,
			`{"locationId":"l1","customFields":[{"key":"contact.level","field_value":"gold"}]}`, "customFields"},
		{"search without pageLimit (loader's schema)", jsonReq("POST", "/contacts/search"),
			`{"locationId":"l1","pageLimit":10}`, `{"locationId":"l1"}`, `"pageLimit"`},
		{"token form without client_id", formReqOf("/oauth/token"),
			"client_id=a&client_secret=b&grant_type=authorization_code&code=c", "client_secret=b&grant_type=authorization_code&code=c", `"client_id"`},
		{"a required body left out", jsonReq("POST", "/contacts/c1/tags"), `{"tags":[]}`, ``, "required"},
	}
	for _, tc := range cases {
		if _, err := s.ValidateRequest(tc.req(tc.good), []byte(tc.good)); err != nil {
			t.Errorf("%s: the request without the plant is refused: %v", tc.name, err)
		}
		_, err := s.ValidateRequest(tc.req(tc.bad), []byte(tc.bad))
		switch {
		case err == nil:
			t.Errorf("%s: accepted %s", tc.name, tc.bad)
		case !strings.Contains(err.Error(), tc.culprit):
			t.Errorf("%s: refused, but not for %s: %v", tc.name, tc.culprit, err)
		}
	}
}

// TestClosedQuery: a query parameter the operation does not declare is refused.
func TestClosedQuery(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, good, bad, culprit string }{
		{"/contacts/", "locationId=l1&limit=10&startAfter=1&startAfterId=c1", "locationId=l1&limit=10&sortBy=name", `"sortBy"`},
		{"/locations/l1/customFields", "model=contact", "model=contact&fields=all", `"fields"`},
		{"/contacts/c1", "", "locationId=l1", `"locationId"`},
	} {
		if _, err := s.ValidateRequest(newReq("GET", tc.path+"?"+tc.good, ""), nil); err != nil {
			t.Errorf("GET %s?%s: refused: %v", tc.path, tc.good, err)
		}
		_, err := s.ValidateRequest(newReq("GET", tc.path+"?"+tc.bad, ""), nil)
		if err == nil || !strings.Contains(err.Error(), tc.culprit) {
			t.Errorf("GET %s?%s: %v, want a refusal naming %s", tc.path, tc.bad, err, tc.culprit)
		}
	}
}

func jsonReq(method, target string) func(string) *http.Request {
	return func(body string) *http.Request { return newReq(method, target, body) }
}

func formReqOf(target string) func(string) *http.Request {
	return func(body string) *http.Request { return formReq(target, body) }
}

// TestRequestBodiesClosed: every object schema reachable from a request body that lists
// properties is closed, except under a multi-part allOf (none of which the client sends).
func TestRequestBodiesClosed(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for name, doc := range s.Docs {
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				if op.RequestBody == nil || op.RequestBody.Value == nil {
					continue
				}
				for ct, mt := range op.RequestBody.Value.Content {
					where := name + " " + method + " " + path + " " + ct
					walkRequest(t, where, mt.Schema, true, map[*openapi3.Schema]bool{})
					checked++
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d request bodies", checked)
	}
}

func walkRequest(t *testing.T, where string, ref *openapi3.SchemaRef, closable bool, seen map[*openapi3.Schema]bool) {
	t.Helper()
	if ref == nil || ref.Value == nil || seen[ref.Value] {
		return
	}
	seen[ref.Value] = true
	v := ref.Value
	if closable && len(v.Properties) > 0 && len(v.AllOf) == 0 && v.AdditionalProperties.Schema == nil &&
		(v.AdditionalProperties.Has == nil || *v.AdditionalProperties.Has) {
		t.Errorf("%s: open object schema with properties %v", where, slices.Sorted(maps.Keys(v.Properties)))
	}
	for _, p := range v.Properties {
		walkRequest(t, where, p, true, seen)
	}
	walkRequest(t, where, v.Items, true, seen)
	for _, p := range v.AnyOf {
		walkRequest(t, where, p, true, seen)
	}
	for _, p := range v.OneOf {
		walkRequest(t, where, p, true, seen)
	}
	for _, p := range v.AllOf {
		walkRequest(t, where, p, len(v.AllOf) == 1, seen)
	}
}

// TestClosedErrors: error answers are checked against closed copies of HighLevel's error DTOs
// (and the listed departures); a planted defect in each is refused.
func TestClosedErrors(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	get := newReq("GET", "/contacts/c1", "")
	create := newReq("POST", "/contacts/", "{}")
	update := newReq("PUT", "/contacts/c1", "{}")
	search := newReq("POST", "/contacts/search", "{}")
	token := formReq("/oauth/token", "")
	dup := `{"statusCode":400,"message":"This location does not allow duplicated contacts.","meta":{"contactId":"c9","contactName":"Ann Lee","matchingField":"email"}}`
	good := []struct {
		req    *http.Request
		status int
		body   string
	}{
		{get, 400, `{"statusCode":400,"message":"Bad Request"}`},
		{get, 400, `{"statusCode":400,"message":"Contact not found","error":"Bad Request","traceId":"a-b"}`},
		{get, 401, `{"statusCode":401,"message":"Invalid JWT","error":"Unauthorized"}`},
		{get, 403, `{"statusCode":403,"message":"The token does not have access to this location.","error":"Forbidden"}`},
		{get, 404, `{"statusCode":404,"message":"Contact not found","error":"Not Found"}`},
		{get, 422, `{"statusCode":422,"message":["id must be a string"],"error":"Unprocessable Entity"}`},
		{get, 429, `{"statusCode":429,"message":"Too many requests, please try again later.","error":"Too Many Requests"}`},
		{get, 503, `{"statusCode":503,"message":"Service unavailable","error":"Service Unavailable"}`},
		{create, 400, dup},
		{update, 400, dup},
		{search, 400, `{"statusCode":400,"message":"Bad Request"}`},
		{search, 422, `{"statusCode":422,"message":["pageLimit must not be less than 1"],"error":"Unprocessable Entity"}`},
		{token, 400, `{"error":"invalid_grant","error_description":"refresh token is invalid"}`},
		{token, 400, `{"statusCode":400,"message":"Invalid grant","error":"Bad Request"}`},
		{token, 401, `{"statusCode":401,"message":"Invalid client credentials","error":"invalid_client","error_description":"Invalid client credentials"}`},
	}
	for _, g := range good {
		if err := s.ValidateAnswer(g.req, g.status, h, []byte(g.body)); err != nil {
			t.Errorf("%s %s %d %s: refused: %v", g.req.Method, g.req.URL.Path, g.status, g.body, err)
		}
	}
	bad := []struct {
		name   string
		req    *http.Request
		status int
		body   string
	}{
		{"unknown property", get, 404, `{"statusCode":404,"message":"Contact not found","error":"Not Found","errors":[]}`},
		{"statusCode differs from the status", get, 404, `{"statusCode":400,"message":"Contact not found"}`},
		{"5xx statusCode outside 5xx", get, 502, `{"statusCode":200,"message":"Bad gateway"}`},
		{"message not a string", get, 400, `{"statusCode":400,"message":42}`},
		{"422 message not a list", get, 422, `{"statusCode":422,"message":"id must be a string"}`},
		{"no message", get, 401, `{"statusCode":401,"error":"Unauthorized"}`},
		{"no statusCode", get, 404, `{"message":"Contact not found"}`},
		{"meta outside create and update", get, 400, dup},
		{"meta with an unknown key", create, 400, `{"statusCode":400,"message":"dup","meta":{"contactId":"c9","score":1}}`},
		{"meta without contactId", create, 400, `{"statusCode":400,"message":"dup","meta":{"matchingField":"email"}}`},
		{"traceId not a string", get, 404, `{"statusCode":404,"message":"x","traceId":7}`},
		{"unknown property where the spec gave no schema", search, 401, `{"statusCode":401,"message":"Invalid JWT","reason":"expired"}`},
		{"RFC body with an unknown property", token, 400, `{"error":"invalid_grant","error_uri":"https://x"}`},
		{"RFC error_description outside oauth", get, 401, `{"statusCode":401,"message":"x","error_description":"y"}`},
	}
	for _, b := range bad {
		if s.ValidateAnswer(b.req, b.status, h, []byte(b.body)) == nil {
			t.Errorf("%s: accepted %d %s", b.name, b.status, b.body)
		}
	}
}

// TestDeparturesListed: Load applies every Departure exactly once and nothing else, each
// states its evidence (or says there is none), and README's table lists every one.
func TestDeparturesListed(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range Departures {
		if d.ID == "" || d.Where == "" || d.Change == "" || d.Evidence == "" {
			t.Errorf("departure %+v is incomplete", d)
		}
		ids = append(ids, d.ID)
	}
	applied := slices.Clone(s.Applied)
	slices.Sort(applied)
	slices.Sort(ids)
	if !slices.Equal(applied, ids) {
		t.Errorf("applied %v, listed %v", applied, ids)
	}
	if n := len(slices.Compact(slices.Clone(ids))); n != len(ids) {
		t.Errorf("duplicate departure ids: %v", ids)
	}

	readme := readmeSection(t)
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\|(.*)\\|\\s*$")
	rows := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(readme, -1) {
		rows[m[1]] = m[2]
	}
	for _, d := range Departures {
		r, ok := rows[d.ID]
		switch {
		case !ok:
			t.Errorf("README's table lacks departure %s", d.ID)
		case strings.Contains(d.Evidence, NoEvidence) && !strings.Contains(r, "**no evidence**"):
			t.Errorf("README's row %s does not say it has no evidence", d.ID)
		case !strings.Contains(d.Evidence, NoEvidence) && strings.Contains(r, "**no evidence**"):
			t.Errorf("README's row %s says it has no evidence; Departures gives %q", d.ID, d.Evidence)
		}
		delete(rows, d.ID)
	}
	for id := range rows {
		t.Errorf("README's table lists %s, which is not a departure", id)
	}
}

// readmeSection is the README section that holds the departures table.
func readmeSection(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.mod above the test")
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const title = "## Where we depart from HighLevel's OpenAPI files"
	text := string(raw)
	i := strings.Index(text, title)
	if i < 0 {
		t.Fatalf("README has no section %q", title)
	}
	text = text[i+len(title):]
	if j := strings.Index(text, "\n## "); j >= 0 {
		text = text[:j]
	}
	return text
}
