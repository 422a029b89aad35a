// Package ghlspec loads HighLevel's published OpenAPI specs (../shared/ghl-api, relative to
// the module root) and validates HTTP exchanges against them. It is test support for the
// contract tests of package ghl and package ghlsim; product code does not import it.
//
// Where the official spec is wrong or silent, Load patches the loaded document in memory and
// Exceptions lists every patch with the reason; nothing else is relaxed.
package ghlspec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// DirEnv overrides where the spec folder is looked for.
const DirEnv = "HLRZ_GHL_API_DIR"

// specServer is the server every HighLevel spec declares; requests are matched as if sent
// there, whatever host the test used.
const specServer = "https://services.leadconnectorhq.com"

// Dir finds the ghl-api folder: $HLRZ_GHL_API_DIR, else ../shared/ghl-api next to the module
// root (the directory holding go.mod, found by walking up from the working directory).
func Dir() (string, error) {
	if d := os.Getenv(DirEnv); d != "" {
		return checkDir(d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("ghlspec: working directory: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return checkDir(filepath.Join(d, "..", "shared", "ghl-api"))
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("ghlspec: no go.mod above %s", wd)
		}
	}
}

func checkDir(d string) (string, error) {
	d = filepath.Clean(d)
	if _, err := os.Stat(filepath.Join(d, "apps", "contacts.json")); err != nil {
		return "", fmt.Errorf("ghlspec: HighLevel's API reference is missing at %s (set %s): %w", d, DirEnv, err)
	}
	return d, nil
}

// Exceptions are the places where the official spec is wrong or silent, and what Load does
// about each.
var Exceptions = []string{
	"contacts.json POST /contacts/search: the request DTO SearchBodyV2DTO has no properties and the 200 response no schema. " +
		"Load documents the shape HighLevel's search guide and API behaviour show: locationId and pageLimit required, " +
		"query, filters, sort, searchAfter; response {contacts[] (each with its searchAfter cursor), total}; and a 422 " +
		"answer, which HighLevel sends when pageLimit or locationId is missing (highlevel-api-docs issue #31).",
	"contacts.json GET /contacts/: the response schema lacks meta (total, startAfterId, startAfter, nextPageUrl, ...), " +
		"which carries the cursor. Load adds it to ContactsSearchSuccessfulResponseDto.",
	"contacts.json CreateContactDto/UpdateContactDto/UpsertContactDto.dateOfBirth: typed object although described and " +
		"exemplified as a date string (\"1990-09-25\"). Load types it string.",
	"contacts.json NumericField/MonetoryField.field_value: typed object although the value is a number (example 100). " +
		"Load types it number.",
	"contacts.json CustomFieldSchema.value: typed string, but values of numeric, checkbox and file fields are numbers, " +
		"lists or objects (the webhook docs say string|number|array|object). Load leaves it untyped.",
	"locations.json POST /locations/{locationId}/tasks/search (task-search): LocationTaskListSuccessfulResponseDto types " +
		"tasks as an array of arrays, but HighLevel sends an array of task objects, keyed by _id (not id like the per-contact " +
		"task endpoints), with title, body, assignedTo, dueDate, completed, contactId, locationId, deleted, dateAdded, " +
		"dateUpdated, contactDetails {firstName, lastName, often null} and assignedToUserDetails, and no total. Load types the " +
		"items as that object with _id required (other properties stay allowed). HighLevel also answers this POST 201, not " +
		"the documented 200 (reported from live calls); Load documents 201 with the same schema. (Users also report an " +
		"undocumented searchAfter cursor on each row; the client pages with the documented skip/limit.)",
	"contacts.json and locations.json: no operation documents 403 (token lacks access to the location), 404 (record not " +
		"found), 413 (body too large), 429 (rate limited) or 5XX answers, all of which HighLevel sends. Load adds them " +
		"with the common error shape {statusCode, message, error}.",
	"contacts.json UpdateContactDto omits companyName, which HighLevel's update accepts (create and upsert have it); " +
		"the DTO does not forbid extra properties, so no patch is needed, but the client relies on it.",
	"contacts.json GET /contacts/search/duplicate (get-duplicate-contact): the 200 response has no schema. Load documents " +
		"{contact: the contact (as get-contact's GetContectByIdSchema) or null when none matches, traceId}, the shape integrators " +
		"report; ASSUMPTION (no official example). A 400 (BadRequestDTO) is documented and answered when neither email nor number is given.",
	"contacts.json POST /contacts/: a location that does not allow duplicates refuses an existing e-mail or phone with 400 " +
		"{statusCode, message: \"This location does not allow duplicated contacts.\", meta: {contactId, contactName, matchingField}} " +
		"(ghl-facts.md section 4); BadRequestDTO allows the extra meta, so no patch is needed.",
	"oauth.json POST /oauth/token: the 4xx schemas lack RFC 6749's error/error_description, which HighLevel sends and " +
		"OAuth clients key on (invalid_grant); they are extra properties, so no patch is needed.",
}

// Spec is the loaded documents with a router each.
type Spec struct {
	Docs    map[string]*openapi3.T // "contacts", "locations", "oauth"
	routers []routers.Router
}

var (
	loadOnce sync.Once
	loaded   *Spec
	loadErr  error
)

// Load reads and patches the specs once per process.
func Load() (*Spec, error) {
	loadOnce.Do(func() { loaded, loadErr = load() })
	return loaded, loadErr
}

func load() (*Spec, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	s := &Spec{Docs: map[string]*openapi3.T{}}
	for _, name := range []string{"contacts", "locations", "oauth"} {
		loader := openapi3.NewLoader()
		loader.IsExternalRefsAllowed = true
		doc, err := loader.LoadFromFile(filepath.Join(dir, "apps", name+".json"))
		if err != nil {
			return nil, fmt.Errorf("ghlspec: load %s.json: %w", name, err)
		}
		s.Docs[name] = doc
	}
	if err := patch(s.Docs); err != nil {
		return nil, err
	}
	for _, name := range []string{"contacts", "locations", "oauth"} {
		// gorillamux, unlike the legacy router, does not validate the whole document first:
		// HighLevel's specs have defects in operations this project does not use (e.g.
		// POST /contacts/bulk/tags/update/{type} never declares its path parameter).
		r, err := gorillamux.NewRouter(s.Docs[name])
		if err != nil {
			return nil, fmt.Errorf("ghlspec: route %s.json: %w", name, err)
		}
		s.routers = append(s.routers, r)
	}
	return s, nil
}

func schemaOf(doc *openapi3.T, name string) (*openapi3.Schema, error) {
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return nil, fmt.Errorf("ghlspec: schema %s is gone from the spec; revisit the exceptions", name)
	}
	return ref.Value, nil
}

func errorShape() *openapi3.Schema {
	return openapi3.NewObjectSchema().
		WithProperty("statusCode", openapi3.NewFloat64Schema()).
		WithProperty("message", &openapi3.Schema{}). // string, or a list for 422s
		WithProperty("error", openapi3.NewStringSchema())
}

// patch applies Exceptions.
func patch(docs map[string]*openapi3.T) error {
	c := docs["contacts"]

	search := c.Paths.Value("/contacts/search")
	if search == nil || search.Post == nil {
		return errors.New("ghlspec: POST /contacts/search is gone from the spec")
	}
	searchBody := openapi3.NewObjectSchema().
		WithProperty("locationId", openapi3.NewStringSchema()).
		WithProperty("pageLimit", openapi3.NewIntegerSchema()).
		WithProperty("page", openapi3.NewIntegerSchema()).
		WithProperty("query", openapi3.NewStringSchema()).
		WithProperty("searchAfter", openapi3.NewArraySchema().WithItems(&openapi3.Schema{})).
		WithProperty("filters", openapi3.NewArraySchema().WithItems(openapi3.NewObjectSchema())).
		WithProperty("sort", openapi3.NewArraySchema().WithItems(openapi3.NewObjectSchema().
			WithProperty("field", openapi3.NewStringSchema()).
			WithProperty("direction", openapi3.NewStringSchema().WithEnum("asc", "desc"))))
	searchBody.Required = []string{"locationId", "pageLimit"}
	search.Post.RequestBody.Value.Content = openapi3.NewContentWithJSONSchema(searchBody)
	item, err := schemaOf(c, "ContactsSearchSchema")
	if err != nil {
		return err
	}
	hit := *item
	hit.Properties = openapi3.Schemas{}
	for k, v := range item.Properties {
		hit.Properties[k] = v
	}
	hit.Properties["searchAfter"] = openapi3.NewArraySchema().WithItems(&openapi3.Schema{}).NewRef()
	searchResp := openapi3.NewObjectSchema().
		WithProperty("contacts", openapi3.NewArraySchema().WithItems(&hit)).
		WithProperty("total", openapi3.NewFloat64Schema())
	searchResp.Required = []string{"contacts", "total"}
	search.Post.Responses.Value("200").Value.Content = openapi3.NewContentWithJSONSchema(searchResp)
	if unprocessable := c.Paths.Value("/contacts/").Post.Responses.Value("422"); unprocessable != nil && search.Post.Responses.Value("422") == nil {
		search.Post.Responses.Set("422", unprocessable)
	}

	list, err := schemaOf(c, "ContactsSearchSuccessfulResponseDto")
	if err != nil {
		return err
	}
	nullableStr := openapi3.NewStringSchema().WithNullable()
	nullableNum := openapi3.NewFloat64Schema().WithNullable()
	list.Properties["meta"] = openapi3.NewObjectSchema().
		WithProperty("total", openapi3.NewFloat64Schema()).
		WithProperty("startAfterId", nullableStr).
		WithProperty("startAfter", nullableNum).
		WithProperty("nextPageUrl", nullableStr).
		WithProperty("currentPage", nullableNum).
		WithProperty("nextPage", nullableNum).
		WithProperty("prevPage", nullableNum).NewRef()

	for _, dto := range []string{"CreateContactDto", "UpdateContactDto", "UpsertContactDto"} {
		s, err := schemaOf(c, dto)
		if err != nil {
			return err
		}
		s.Properties["dateOfBirth"] = openapi3.NewStringSchema().WithNullable().NewRef()
	}
	for _, f := range []string{"NumericField", "MonetoryField"} {
		s, err := schemaOf(c, f)
		if err != nil {
			return err
		}
		s.Properties["field_value"] = openapi3.NewFloat64Schema().NewRef()
	}
	dup := c.Paths.Value("/contacts/search/duplicate")
	if dup == nil || dup.Get == nil || dup.Get.Responses.Value("200") == nil {
		return errors.New("ghlspec: GET /contacts/search/duplicate is gone from the spec; revisit the exceptions")
	}
	byID, err := schemaOf(c, "GetContectByIdSchema")
	if err != nil {
		return err
	}
	nullableContact := *byID
	nullableContact.Nullable = true
	dup.Get.Responses.Value("200").Value.Content = openapi3.NewContentWithJSONSchema(openapi3.NewObjectSchema().
		WithProperty("contact", &nullableContact).
		WithProperty("traceId", openapi3.NewStringSchema()))

	cf, err := schemaOf(c, "CustomFieldSchema")
	if err != nil {
		return err
	}
	cf.Properties["value"] = (&openapi3.Schema{}).NewRef()

	if err := patchTaskSearch(docs["locations"]); err != nil {
		return err
	}

	for _, name := range []string{"contacts", "locations"} {
		for _, item := range docs[name].Paths.Map() {
			for _, op := range item.Operations() {
				for _, st := range []string{"403", "404", "413", "429", "5XX"} {
					if op.Responses.Value(st) == nil {
						desc := "added by ghlspec (undocumented by HighLevel)"
						op.Responses.Set(st, &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription(desc).WithJSONSchema(errorShape())})
					}
				}
			}
		}
	}
	return nil
}

// patchTaskSearch applies the task-search exception.
func patchTaskSearch(l *openapi3.T) error {
	search := l.Paths.Value("/locations/{locationId}/tasks/search")
	if search == nil || search.Post == nil || search.Post.Responses.Value("200") == nil {
		return errors.New("ghlspec: POST /locations/{locationId}/tasks/search is gone from the spec; revisit the exceptions")
	}
	list, err := schemaOf(l, "LocationTaskListSuccessfulResponseDto")
	if err != nil {
		return err
	}
	str := openapi3.NewStringSchema
	nullableStr := func() *openapi3.Schema { return openapi3.NewStringSchema().WithNullable() }
	row := openapi3.NewObjectSchema().
		WithProperty("_id", str()).
		WithProperty("title", str()).
		WithProperty("body", nullableStr()).
		WithProperty("assignedTo", nullableStr()).
		WithProperty("dueDate", str()).
		WithProperty("completed", openapi3.NewBoolSchema()).
		WithProperty("contactId", nullableStr()).
		WithProperty("locationId", str()).
		WithProperty("deleted", openapi3.NewBoolSchema()).
		WithProperty("dateAdded", str()).
		WithProperty("dateUpdated", str()).
		WithProperty("updatedAt", str()).
		WithProperty("status", str()).
		WithProperty("statusGroup", str()).
		WithProperty("searchAfter", openapi3.NewArraySchema().WithItems(&openapi3.Schema{})).
		WithProperty("contactDetails", openapi3.NewObjectSchema().WithNullable().
			WithProperty("_id", str()).
			WithProperty("firstName", nullableStr()).
			WithProperty("lastName", nullableStr())).
		WithProperty("assignedToUserDetails", openapi3.NewObjectSchema().WithNullable().
			WithProperty("id", str()).
			WithProperty("firstName", nullableStr()).
			WithProperty("lastName", nullableStr()).
			WithProperty("profilePhoto", nullableStr()))
	row.Required = []string{"_id"}
	list.Properties["tasks"] = openapi3.NewArraySchema().WithItems(row).NewRef()
	list.Required = []string{"tasks"}
	if search.Post.Responses.Value("201") == nil {
		search.Post.Responses.Set("201", search.Post.Responses.Value("200"))
	}
	return nil
}

// Find returns the route of req, matched as if sent to HighLevel's server.
func (s *Spec) Find(req *http.Request) (*routers.Route, map[string]string, error) {
	u := *req.URL
	base, _ := url.Parse(specServer)
	u.Scheme, u.Host = base.Scheme, base.Host
	probe := req.Clone(req.Context())
	probe.URL = &u
	probe.Host = base.Host
	var last error
	for _, r := range s.routers {
		route, params, err := r.FindRoute(probe)
		if err == nil {
			return route, params, nil
		}
		last = err
	}
	return nil, nil, fmt.Errorf("%s %s: no operation in HighLevel's specs: %w", req.Method, req.URL.Path, last)
}

func options() *openapi3filter.Options {
	return &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			h := in.RequestValidationInput.Request.Header.Get("Authorization")
			if !strings.HasPrefix(h, "Bearer ") || strings.TrimSpace(h[len("Bearer "):]) == "" {
				return errors.New("missing bearer token")
			}
			return nil
		},
	}
}

// ValidateRequest checks req (whose body is body) against its operation.
func (s *Spec) ValidateRequest(req *http.Request, body []byte) (*openapi3filter.RequestValidationInput, error) {
	route, params, err := s.Find(req)
	if err != nil {
		return nil, err
	}
	probe := req.Clone(req.Context())
	probe.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route, Options: options()}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		return in, fmt.Errorf("%s: request: %w", route.Operation.OperationID, err)
	}
	return in, nil
}

// ValidateResponse checks a response to the request in.
func (s *Spec) ValidateResponse(in *openapi3filter.RequestValidationInput, status int, h http.Header, body []byte) error {
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: h, Options: options()}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("%s: response %d: %w", in.Route.Operation.OperationID, status, err)
	}
	return nil
}

// Recorder is an http.RoundTripper that validates every request it carries and every
// response it gets back, and records which operations and statuses it saw. Requests to
// paths no spec describes (the simulator's /admin and choose-location page) pass through
// unvalidated and are listed by Unmatched.
type Recorder struct {
	Spec *Spec
	Base http.RoundTripper // default http.DefaultTransport

	mu        sync.Mutex
	seen      map[string][]int // operationId -> statuses
	failures  []string
	unmatched []string
}

// RoundTrip validates and forwards req.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	base := r.Base
	if base == nil {
		base = http.DefaultTransport
	}
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	if _, _, err := r.Spec.Find(req); err != nil {
		r.mu.Lock()
		r.unmatched = append(r.unmatched, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		return base.RoundTrip(req)
	}
	in, reqErr := r.Spec.ValidateRequest(req, body)
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	op := in.Route.Operation.OperationID
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string][]int{}
	}
	r.seen[op] = append(r.seen[op], resp.StatusCode)
	if reqErr != nil {
		r.failures = append(r.failures, reqErr.Error())
	}
	if err := r.Spec.ValidateResponse(in, resp.StatusCode, resp.Header, respBody); err != nil {
		r.failures = append(r.failures, err.Error())
	}
	return resp, nil
}

// Seen maps each operationId exercised to the statuses it answered, in order.
func (r *Recorder) Seen() map[string][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]int, len(r.seen))
	for k, v := range r.seen {
		out[k] = append([]int(nil), v...)
	}
	return out
}

// Failures are the validation errors, one per request or response that failed.
func (r *Recorder) Failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.failures...)
}

// Unmatched are requests to paths no spec describes.
func (r *Recorder) Unmatched() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.unmatched...)
}

// Summary is a readable list of operations and statuses, for test logs.
func (r *Recorder) Summary() string {
	seen := r.Seen()
	ops := make([]string, 0, len(seen))
	for op := range seen {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var b strings.Builder
	for _, op := range ops {
		sts := make([]string, len(seen[op]))
		for i, st := range seen[op] {
			sts[i] = strconv.Itoa(st)
		}
		fmt.Fprintf(&b, "%s: %s\n", op, strings.Join(sts, " "))
	}
	return b.String()
}
