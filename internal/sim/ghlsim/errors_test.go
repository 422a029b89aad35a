package ghlsim_test

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hlrz/hlrz/internal/ghl/ghlspec"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

// errorAnswer is one way to make the simulator answer with an error.
type errorAnswer struct {
	name   string
	opts   ghlsim.Options                     // simulator options for this answer
	setup  func(t *testing.T, f *fixture) any // prepares state; its result is passed to req
	req    func(f *fixture, state any) *http.Request
	status int
	msg    string // a substring of the message (or of error_description)
}

func apiReq(method, path string, body any) func(*fixture, any) *http.Request {
	return func(f *fixture, _ any) *http.Request {
		var rd io.Reader
		switch b := body.(type) {
		case nil:
		case string:
			rd = strings.NewReader(b)
		default:
			raw, _ := json.Marshal(b)
			rd = bytes.NewReader(raw)
		}
		r, _ := http.NewRequest(method, f.srv.URL+path, rd)
		r.Header.Set("Version", "2021-07-28")
		r.Header.Set("Authorization", "Bearer "+pit)
		if rd != nil {
			r.Header.Set("Content-Type", "application/json")
		}
		return r
	}
}

func tokenReq(form url.Values) func(*fixture, any) *http.Request {
	return func(f *fixture, state any) *http.Request {
		v := url.Values{}
		for k, x := range form {
			v[k] = slices.Clone(x)
		}
		if code, ok := state.(string); ok && v.Get("code") == "?" {
			v.Set("code", code)
		}
		r, _ := http.NewRequest("POST", f.srv.URL+"/oauth/token", strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
}

func with(req func(*fixture, any) *http.Request, edit func(*http.Request)) func(*fixture, any) *http.Request {
	return func(f *fixture, state any) *http.Request {
		r := req(f, state)
		edit(r)
		return r
	}
}

func seedAnn(t *testing.T, f *fixture) any {
	t.Helper()
	c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, FirstName: "Ann", LastName: "Lee", Email: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// simulatorErrorAnswers are the error answers the simulator gives: every error it constructs
// in its API and token handlers, and every injected fault.
func simulatorErrorAnswers() []errorAnswer {
	client := url.Values{"client_id": {"sim-client-id"}, "client_secret": {"sim-client-secret"}}
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for k, x := range client {
			v[k] = x
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	return []errorAnswer{
		// 400
		{name: "no Version header", req: with(apiReq("GET", "/contacts/c1", nil), func(r *http.Request) { r.Header.Del("Version") }),
			status: 400, msg: "version header was not found"},
		{name: "malformed JSON", req: apiReq("POST", "/contacts/", `{"locationId":`), status: 400, msg: "Unexpected token in JSON body"},
		{name: "duplicate on create (ghl-facts §4)", setup: seedAnn,
			req: apiReq("POST", "/contacts/", map[string]any{"locationId": loc, "email": "ANN@example.com"}), status: 400,
			msg: "This location does not allow duplicated contacts."},
		{name: "duplicate on update", setup: func(t *testing.T, f *fixture) any {
			seedAnn(t, f)
			c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "bob@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			return c.ID
		}, req: func(f *fixture, id any) *http.Request {
			return apiReq("PUT", "/contacts/"+id.(string), map[string]any{"email": "ann@example.com"})(f, nil)
		}, status: 400, msg: "does not allow duplicated contacts"},
		{name: "duplicate search without email or number", req: apiReq("GET", "/contacts/search/duplicate?locationId="+loc, nil),
			status: 400, msg: "email or number is required"},
		{name: "duplicate search without locationId (the operation documents 400, not 422)",
			req: apiReq("GET", "/contacts/search/duplicate?email=a@example.com", nil), status: 400, msg: "locationId should not be empty"},
		{name: "not found answered 400", opts: ghlsim.Options{NotFoundStatus: 400}, req: apiReq("GET", "/contacts/nobody", nil),
			status: 400, msg: "Contact not found"},
		// 401
		{name: "unknown token", req: with(apiReq("GET", "/contacts/c1", nil), func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }),
			status: 401, msg: "Invalid JWT"},
		// 403
		{name: "another location's contact create", req: apiReq("POST", "/contacts/", map[string]any{"locationId": "locElsewhere"}),
			status: 403, msg: "does not have access"},
		{name: "another location's list", req: apiReq("GET", "/contacts/?locationId=locElsewhere", nil), status: 403, msg: "does not have access"},
		{name: "another location's custom fields", req: apiReq("GET", "/locations/locElsewhere/customFields", nil), status: 403, msg: "does not have access"},
		{name: "another location's tasks", req: apiReq("POST", "/locations/locElsewhere/tasks/search", map[string]any{}), status: 403, msg: "does not have access"},
		// 404
		{name: "contact not found", req: apiReq("GET", "/contacts/nobody", nil), status: 404, msg: "Contact not found"},
		{name: "task not found", setup: seedAnn, req: func(f *fixture, id any) *http.Request {
			return apiReq("GET", "/contacts/"+id.(string)+"/tasks/none", nil)(f, nil)
		}, status: 404, msg: "Task not found"},
		{name: "note not found", setup: seedAnn, req: func(f *fixture, id any) *http.Request {
			return apiReq("GET", "/contacts/"+id.(string)+"/notes/none", nil)(f, nil)
		}, status: 404, msg: "Note not found"},
		// 413
		{name: "body too large", opts: ghlsim.Options{MaxBodyBytes: 64},
			req: apiReq("POST", "/contacts/", map[string]any{"locationId": loc, "firstName": strings.Repeat("x", 100)}), status: 413, msg: "too large"},
		{name: "token body too large", opts: ghlsim.Options{MaxBodyBytes: 64},
			req: tokenReq(form("grant_type", "refresh_token", "refresh_token", strings.Repeat("x", 100))), status: 413, msg: "too large"},
		// 422
		{name: "property the DTO lacks", req: apiReq("POST", "/contacts/", map[string]any{"locationId": loc, "nickname": "Al"}),
			status: 422, msg: "property nickname should not exist"},
		{name: "property of the wrong type", req: apiReq("POST", "/contacts/", map[string]any{"locationId": loc, "firstName": 7}),
			status: 422, msg: `["firstName must be a string"]`},
		{name: "invalid e-mail", req: apiReq("POST", "/contacts/", map[string]any{"locationId": loc, "email": "not-an-email"}),
			status: 422, msg: "email must be an email"},
		{name: "create without locationId", req: apiReq("POST", "/contacts/", map[string]any{"email": "a@example.com"}),
			status: 422, msg: "locationId should not be empty"},
		{name: "list without locationId", req: apiReq("GET", "/contacts/", nil), status: 422, msg: "locationId should not be empty"},
		{name: "list limit too large", req: apiReq("GET", "/contacts/?locationId="+loc+"&limit=101", nil), status: 422, msg: "limit must not be greater than 100"},
		{name: "list cursor half sent", req: apiReq("GET", "/contacts/?locationId="+loc+"&startAfterId=x", nil), status: 422, msg: "sent together"},
		{name: "search without pageLimit", req: apiReq("POST", "/contacts/search", map[string]any{"locationId": loc}), status: 422, msg: "pageLimit should not be empty"},
		{name: "search pageLimit too large", req: apiReq("POST", "/contacts/search", map[string]any{"locationId": loc, "pageLimit": 501}), status: 422, msg: "pageLimit must not be greater than 500"},
		{name: "search by an unsupported sort", req: apiReq("POST", "/contacts/search", map[string]any{"locationId": loc, "pageLimit": 5,
			"sort": []any{map[string]any{"field": "shoeSize", "direction": "asc"}}}), status: 422, msg: "not supported"},
		{name: "business list with a bad limit", req: apiReq("GET", "/contacts/business/b1?locationId="+loc+"&limit=x", nil), status: 422, msg: "limit must be a number string"},
		{name: "tags left out", setup: seedAnn, req: func(f *fixture, id any) *http.Request {
			return apiReq("POST", "/contacts/"+id.(string)+"/tags", map[string]any{})(f, nil)
		}, status: 422, msg: "tags should not be empty"},
		{name: "task without title, dueDate or completed", setup: seedAnn, req: func(f *fixture, id any) *http.Request {
			return apiReq("POST", "/contacts/"+id.(string)+"/tasks", map[string]any{"body": "x"})(f, nil)
		}, status: 422, msg: `["title should not be empty","dueDate should not be empty","completed must be a boolean value"]`},
		{name: "task due date not ISO 8601", setup: seedAnn, req: func(f *fixture, id any) *http.Request {
			return apiReq("POST", "/contacts/"+id.(string)+"/tasks", map[string]any{"title": "Call", "dueDate": "tomorrow", "completed": false})(f, nil)
		}, status: 422, msg: "dueDate must be a valid ISO 8601 date string"},
		{name: "task completion without completed", setup: seedAnn, req: func(f *fixture, id any) *http.Request {
			return apiReq("PUT", "/contacts/"+id.(string)+"/tasks/t1/completed", map[string]any{})(f, nil)
		}, status: 422, msg: "completed must be a boolean value"},
		{name: "invalid phone", req: apiReq("POST", "/contacts/", map[string]any{"locationId": loc, "phone": "call me"}),
			status: 422, msg: "phone must be a valid phone number"},
		{name: "list cursor not a number", req: apiReq("GET", "/contacts/?locationId="+loc+"&startAfter=x&startAfterId=c1", nil),
			status: 422, msg: "startAfter must be a number"},
		{name: "search cursor not a pair", req: apiReq("POST", "/contacts/search", map[string]any{"locationId": loc, "pageLimit": 5, "searchAfter": []any{1}}),
			status: 422, msg: "searchAfter must be the [sortValue, id] pair"},
		{name: "business list with a bad skip", req: apiReq("GET", "/contacts/business/b1?locationId="+loc+"&skip=x", nil), status: 422, msg: "skip must be a number string"},
		{name: "task search with a negative skip", req: apiReq("POST", "/locations/"+loc+"/tasks/search", map[string]any{"skip": -1}),
			status: 422, msg: "skip must be an integer not less than 0"},
		{name: "note without body", setup: seedAnn, req: func(f *fixture, id any) *http.Request {
			return apiReq("POST", "/contacts/"+id.(string)+"/notes", map[string]any{"title": "x"})(f, nil)
		}, status: 422, msg: "body should not be empty"},
		{name: "custom fields of an unknown model", req: apiReq("GET", "/locations/"+loc+"/customFields?model=cars", nil), status: 422, msg: "model must be one of"},
		{name: "task search with a bad limit", req: apiReq("POST", "/locations/"+loc+"/tasks/search", map[string]any{"limit": -1}), status: 422, msg: "limit"},
		// 429
		{name: "burst limit", opts: ghlsim.Options{RateMax: 1, SendRetryAfter: true}, setup: func(t *testing.T, f *fixture) any {
			if st, _, _ := f.raw(t, "GET", "/contacts/nobody", pit, nil, nil); st != http.StatusNotFound {
				t.Fatalf("first request: %d", st)
			}
			return nil
		}, req: apiReq("GET", "/contacts/nobody", nil), status: 429, msg: "Too many requests"},
		{name: "forced 429", opts: ghlsim.Options{Faults: ghlsim.Faults{Force429: 1}}, req: apiReq("GET", "/contacts/nobody", nil), status: 429, msg: "Too many requests"},
		{name: "random 429", opts: ghlsim.Options{Faults: ghlsim.Faults{RateLimitRate: 1}}, req: apiReq("GET", "/contacts/nobody", nil), status: 429, msg: "Too many requests"},
		// 5xx
		{name: "random 500", opts: ghlsim.Options{Faults: ghlsim.Faults{ErrorRate: 1}}, req: apiReq("GET", "/contacts/nobody", nil), status: 500, msg: "injected"},
		{name: "forced 502", opts: ghlsim.Options{Faults: ghlsim.Faults{Force5xx: 1, Status5xx: 502}}, req: apiReq("GET", "/contacts/nobody", nil), status: 502, msg: "injected"},
		{name: "forced 503", opts: ghlsim.Options{Faults: ghlsim.Faults{Force5xx: 1}}, req: apiReq("GET", "/contacts/nobody", nil), status: 503, msg: "injected"},
		{name: "forced 504", opts: ghlsim.Options{Faults: ghlsim.Faults{Force5xx: 1, Status5xx: 504}}, req: apiReq("GET", "/contacts/nobody", nil), status: 504, msg: "injected"},
		// A write applied whose answer is lost (the seed draws a 502 rather than a dropped connection).
		{name: "applied, then 502", opts: ghlsim.Options{Seed: 5, Faults: ghlsim.Faults{AppliedThenFailRate: 1}}, setup: seedAnn, req: func(f *fixture, id any) *http.Request {
			return apiReq("PUT", "/contacts/"+id.(string), map[string]any{"lastName": "Ng"})(f, nil)
		}, status: 502, msg: "after the write was applied"},
		// The token endpoint.
		{name: "token: wrong client secret", req: tokenReq(url.Values{"client_id": {"sim-client-id"}, "client_secret": {"nope"}, "grant_type": {"refresh_token"}, "refresh_token": {"r"}}),
			status: 401, msg: "Invalid client credentials"},
		{name: "token: bad user_type", req: tokenReq(form("grant_type", "refresh_token", "refresh_token", "r", "user_type", "Agency")), status: 422, msg: "user_type"},
		{name: "token: unknown code", req: tokenReq(form("grant_type", "authorization_code", "code", "nope", "redirect_uri", "https://x.example/cb?keep=1")),
			status: 400, msg: "authorization code is invalid"},
		{name: "token: redirect_uri differs", setup: func(t *testing.T, f *fixture) any { return f.authorize(t, "") },
			req: tokenReq(form("grant_type", "authorization_code", "code", "?", "redirect_uri", "https://elsewhere.example/cb")), status: 400, msg: "redirect_uri does not match"},
		{name: "token: unknown refresh token", req: tokenReq(form("grant_type", "refresh_token", "refresh_token", "nope")), status: 400, msg: "refresh token is invalid"},
		{name: "token: unsupported grant", req: tokenReq(form("grant_type", "password")), status: 400, msg: "grant_type must be"},
		{name: "token: body not a form", req: with(tokenReq(client), func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("%zz"))
			r.ContentLength = 3
		}), status: 400, msg: "x-www-form-urlencoded"},
		// A refused refresh token in each shape Faults.TokenErrorShape offers (ghl-facts §5).
		{name: "token: refresh refused, RFC 6749 body", opts: ghlsim.Options{Faults: ghlsim.Faults{TokenErrorShape: ghlsim.TokenErrorRFC6749}},
			req: tokenReq(form("grant_type", "refresh_token", "refresh_token", "nope")), status: 400, msg: "refresh token is invalid"},
		{name: "token: refresh refused, BadRequestDTO", opts: ghlsim.Options{Faults: ghlsim.Faults{TokenErrorShape: ghlsim.TokenErrorBadRequestDTO}},
			req: tokenReq(form("grant_type", "refresh_token", "refresh_token", "nope")), status: 400, msg: "refresh token is invalid"},
		{name: "token: refresh refused, UnauthorizedDTO", opts: ghlsim.Options{Faults: ghlsim.Faults{TokenErrorShape: ghlsim.TokenErrorUnauthorizedDTO}},
			req: tokenReq(form("grant_type", "refresh_token", "refresh_token", "nope")), status: 401, msg: "refresh token is invalid"},
		// An agency's Company token and POST /oauth/locationToken.
		{name: "company token on a location API", setup: companyToken,
			req: func(f *fixture, tok any) *http.Request {
				return with(apiReq("GET", "/contacts/c1", nil), func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.(string)) })(f, nil)
			}, status: 401, msg: "authClass"},
		{name: "locationToken: no Version header", setup: companyToken,
			req: with(locationTokenReq(loc), func(r *http.Request) { r.Header.Del("Version") }), status: 400, msg: "version header was not found"},
		{name: "locationToken: unknown token", req: locationTokenReq(loc), status: 401, msg: "Invalid JWT"},
		{name: "locationToken: a Location token", setup: func(*testing.T, *fixture) any { return pit },
			req: locationTokenReq(loc), status: 401, msg: "Agency (Company) access token"},
		{name: "locationToken: no locationId", setup: companyToken, req: locationTokenReq(""), status: 422, msg: "companyId and locationId should not be empty"},
		{name: "locationToken: location not approved", setup: companyToken, req: locationTokenReq("locNotApproved000001"), status: 400, msg: "not installed on this location"},
		{name: "locationToken: body not a form", setup: companyToken, req: with(locationTokenReq(loc), func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("%zz"))
			r.ContentLength = 3
		}), status: 400, msg: "x-www-form-urlencoded"},
	}
}

// companyToken installs the app on the agency (a bulk install of loc) and returns the
// Company access token.
func companyToken(t *testing.T, f *fixture) any {
	t.Helper()
	code := f.authorize(t, "&userType=Company&locationIds="+loc)
	st, tok := f.tokenCall(t, url.Values{"client_id": {"sim-client-id"}, "client_secret": {"sim-client-secret"}, "grant_type": {"authorization_code"},
		"code": {code}, "redirect_uri": {"https://x.example/cb?keep=1"}})
	if st != http.StatusOK || tok["userType"] != "Company" {
		t.Fatalf("company install: %d %v", st, tok)
	}
	return tok["access_token"].(string)
}

// locationTokenReq asks for a Location token of location with the setup's token.
func locationTokenReq(location string) func(*fixture, any) *http.Request {
	return func(f *fixture, state any) *http.Request {
		tok, _ := state.(string)
		if tok == "" {
			tok = "nope"
		}
		v := url.Values{"companyId": {"simCompany000000000a"}}
		if location != "" {
			v.Set("locationId", location)
		}
		r, _ := http.NewRequest("POST", f.srv.URL+"/oauth/locationToken", strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Version", "2021-07-28")
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
}

// TestErrorAnswersFollowDTOs iterates over the simulator's error answers, provoked over HTTP,
// and checks each against HighLevel's error DTOs as ghlspec closes them (BadRequestDTO,
// UnauthorizedDTO, UnprocessableDTO, the shape of undocumented statuses, and the listed
// departures: error, traceId, the duplicate's meta, RFC 6749 fields on the token endpoint).
func TestErrorAnswersFollowDTOs(t *testing.T) {
	spec, err := ghlspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[int]bool{}
	var said []string // every message and error_description answered
	for _, a := range simulatorErrorAnswers() {
		f := newFixture(t, a.opts)
		var state any
		if a.setup != nil {
			state = a.setup(t, f)
		}
		req := a.req(f, state)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != a.status {
			t.Errorf("%s: HTTP %d %s, want %d", a.name, resp.StatusCode, body, a.status)
			continue
		}
		statuses[a.status] = true
		if !strings.Contains(string(body), a.msg) {
			t.Errorf("%s: %s does not say %q", a.name, body, a.msg)
		}
		if err := spec.ValidateAnswer(req, resp.StatusCode, resp.Header, body); err != nil {
			t.Errorf("%s: %s\n  %v", a.name, body, err)
		}
		var m struct {
			Message     any    `json:"message"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &m)
		said = append(said, m.Description)
		switch msg := m.Message.(type) {
		case string:
			said = append(said, msg)
		case []any:
			for _, x := range msg {
				s, _ := x.(string)
				said = append(said, s)
			}
		}
	}
	// Every error message written into the simulator's code must have been answered above,
	// so a new error answer fails here until it is provoked and checked.
	for _, lit := range errorMessagesInSource(t) {
		if !slices.ContainsFunc(said, func(s string) bool { return strings.Contains(s, lit) }) {
			t.Errorf("the simulator can answer %q, which no case provokes: add it to simulatorErrorAnswers", lit)
		}
	}
	for _, st := range []int{400, 401, 403, 404, 413, 422, 429, 500, 502, 503, 504} {
		if !statuses[st] {
			t.Errorf("no error answer with status %d was checked", st)
		}
	}
}

// unprovokable are error messages in the simulator's code that no request can bring about.
var unprovokable = map[string]string{
	"could not read request body": "the body is read from a local connection that does not fail mid-body",
}

// errorMessagesInSource lists the literal messages of the simulator's API and token error
// answers: arguments of errBad, errUnprocessable and oauthErr, msg fields of apiError
// literals and strings appended to a msgs list. The choose-location page (authorize, a web
// page, not an API operation) and the admin API (not HighLevel's) are left out.
func errorMessagesInSource(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	add := func(e ast.Expr) {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			if _, skip := unprovokable[s]; !skip {
				out = append(out, s)
			}
		}
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "admin.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Name.Name == "authorize" {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					id, ok := n.Fun.(*ast.Ident)
					if !ok {
						return true
					}
					switch id.Name {
					case "errBad", "errUnprocessable":
						for _, a := range n.Args {
							add(a)
						}
					case "oauthErr":
						if len(n.Args) == 3 {
							add(n.Args[2])
						}
					case "append":
						if len(n.Args) > 1 {
							if first, ok := n.Args[0].(*ast.Ident); ok && first.Name == "msgs" {
								for _, a := range n.Args[1:] {
									add(a)
								}
							}
						}
					}
				case *ast.CompositeLit:
					if id, ok := n.Type.(*ast.Ident); ok && id.Name == "apiError" {
						for _, el := range n.Elts {
							if kv, ok := el.(*ast.KeyValueExpr); ok {
								if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "msg" {
									add(kv.Value)
								}
							}
						}
					}
				}
				return true
			})
		}
	}
	if len(out) < 30 {
		t.Fatalf("found only %d error messages in the simulator's code: the scan is broken", len(out))
	}
	return out
}
