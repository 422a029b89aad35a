// Package ghlspec loads HighLevel's published OpenAPI specs (../shared/ghl-api, relative to
// the module root) and validates HTTP exchanges against them. It is test support for the
// contract tests of package ghl and package ghlsim; product code does not import it.
//
// Where the official spec is wrong or silent, Load patches the loaded document in memory, and
// where it is loose (request bodies, error answers) Load closes it; Departures lists every
// change with its evidence, and README's table "Where we depart from HighLevel's OpenAPI
// files" lists every Departure.
package ghlspec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
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

// Spec is the loaded documents with a router each.
type Spec struct {
	Docs map[string]*openapi3.T // "contacts", "locations", "oauth"
	// Applied are the IDs of the Departures Load applied, in order.
	Applied []string
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
	if s.Applied, err = patch(s.Docs); err != nil {
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
		// One line per violation instead of a dump of the whole schema.
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
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
	err = errors.Join(openapi3filter.ValidateRequest(req.Context(), in), closedQuery(route, req.URL.Query()),
		closedBody(route.Operation, req.Header.Get("Content-Type"), body))
	if err != nil {
		return in, fmt.Errorf("%s: request: %w", route.Operation.OperationID, err)
	}
	return in, nil
}

// closedQuery refuses query parameters the operation does not declare (kin-openapi ignores
// them; departure closed-requests).
func closedQuery(route *routers.Route, q url.Values) error {
	declared := map[string]bool{}
	lists := []openapi3.Parameters{route.Operation.Parameters}
	if route.PathItem != nil {
		lists = append(lists, route.PathItem.Parameters)
	}
	for _, params := range lists {
		for _, p := range params {
			if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
				declared[p.Value.Name] = true
			}
		}
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !declared[k] {
			errs = append(errs, fmt.Errorf("query parameter %q is not declared by the operation", k))
		}
	}
	return errors.Join(errs...)
}

// closedBody refuses what kin-openapi lets through (see departure closed-requests): a body
// sent to an operation that defines none, and form fields the form's DTO does not define.
func closedBody(op *openapi3.Operation, contentType string, body []byte) error {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		if len(bytes.TrimSpace(body)) > 0 {
			return errors.New("HighLevel's spec defines no request body for this operation, and one was sent")
		}
		return nil
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "application/x-www-form-urlencoded" {
		return nil // JSON bodies are closed in their schemas; other types fail in kin-openapi
	}
	mt := op.RequestBody.Value.Content.Get(mediaType)
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return fmt.Errorf("form body: %w", err)
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(form)) {
		if _, ok := mt.Schema.Value.Properties[k]; !ok {
			errs = append(errs, fmt.Errorf("form field %q is not defined by the request schema", k))
		}
	}
	return errors.Join(errs...)
}

// ValidateAnswer checks a response to req against its operation without checking req itself:
// for answers to requests that break the contract on purpose (an unknown field, a missing
// header), which must still be answered in HighLevel's error shapes.
func (s *Spec) ValidateAnswer(req *http.Request, status int, h http.Header, body []byte) error {
	route, params, err := s.Find(req)
	if err != nil {
		return err
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: options()}
	return s.ValidateResponse(in, status, h, body)
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
