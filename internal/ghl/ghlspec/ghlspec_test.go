package ghlspec

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newReq(method, target, body string) *http.Request {
	r := httptest.NewRequest(method, "http://127.0.0.1:1"+target, strings.NewReader(body))
	r.Header.Set("Version", "2021-07-28")
	r.Header.Set("Authorization", "Bearer t")
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

func TestLoadAndValidate(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Docs) != 3 {
		t.Fatalf("loaded %d docs, want 3", len(s.Docs))
	}
	good := newReq("POST", "/contacts/", `{"locationId":"l1","email":"a@b.co","dateOfBirth":"1990-09-25"}`)
	in, err := s.ValidateRequest(good, []byte(`{"locationId":"l1","email":"a@b.co","dateOfBirth":"1990-09-25"}`))
	if err != nil {
		t.Fatalf("valid create rejected: %v", err)
	}
	if op := in.Route.Operation.OperationID; op != "create-contact" {
		t.Fatalf("routed to %s", op)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if err := s.ValidateResponse(in, 201, h, []byte(`{"contact":{"id":"x","tags":["a"]}}`)); err != nil {
		t.Errorf("valid response rejected: %v", err)
	}
	if err := s.ValidateResponse(in, 404, h, []byte(`{"statusCode":404,"message":"Contact not found","error":"Not Found"}`)); err != nil {
		t.Errorf("404 (documented exception) rejected: %v", err)
	}

	// The validator must catch what it is there to catch.
	bad := []struct {
		name string
		err  func() error
	}{
		{"missing Version header", func() error {
			r := newReq("GET", "/contacts/abc", "")
			r.Header.Del("Version")
			_, err := s.ValidateRequest(r, nil)
			return err
		}},
		{"missing bearer token", func() error {
			r := newReq("GET", "/contacts/abc", "")
			r.Header.Del("Authorization")
			_, err := s.ValidateRequest(r, nil)
			return err
		}},
		{"create without locationId", func() error {
			_, err := s.ValidateRequest(newReq("POST", "/contacts/", `{"email":"a@b.co"}`), []byte(`{"email":"a@b.co"}`))
			return err
		}},
		{"tags not an array", func() error {
			return s.ValidateResponse(in, 201, h, []byte(`{"contact":{"id":"x","tags":"a"}}`))
		}},
		{"undocumented status", func() error {
			return s.ValidateResponse(in, 418, h, []byte(`{}`))
		}},
		{"unknown path", func() error {
			_, err := s.ValidateRequest(newReq("GET", "/nothing/here", ""), nil)
			return err
		}},
	}
	for _, b := range bad {
		if b.err() == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
}

// TestTaskSearchException: the task-search response is checked against the documented
// exception (task objects keyed by _id, 200 or 201), not the spec's array of arrays.
func TestTaskSearchException(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	body := `{"query":"call","limit":10}`
	in, err := s.ValidateRequest(newReq("POST", "/locations/l1/tasks/search", body), []byte(body))
	if err != nil {
		t.Fatalf("valid search rejected: %v", err)
	}
	if op := in.Route.Operation.OperationID; op != "task-search" {
		t.Fatalf("routed to %s", op)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	row := `{"_id":"t1","title":"Call","completed":false,"contactId":"c1","dueDate":"2030-01-02T15:00:00.000Z",` +
		`"deleted":false,"contactDetails":{"firstName":null,"lastName":"Lee"}}`
	for _, st := range []int{200, 201} {
		if err := s.ValidateResponse(in, st, h, []byte(`{"tasks":[`+row+`]}`)); err != nil {
			t.Errorf("valid %d response rejected: %v", st, err)
		}
	}
	for name, resp := range map[string]string{
		"rows keyed by id":   `{"tasks":[{"id":"t1","title":"Call"}]}`,
		"rows as arrays":     `{"tasks":[["t1"]]}`,
		"no tasks":           `{}`,
		"completed a string": `{"tasks":[{"_id":"t1","completed":"no"}]}`,
	} {
		if s.ValidateResponse(in, 201, h, []byte(resp)) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	bad := `{"limit":"ten"}`
	if _, err := s.ValidateRequest(newReq("POST", "/locations/l1/tasks/search", bad), []byte(bad)); err == nil {
		t.Error("limit as a string: accepted")
	}
}

func TestDirFailsLoudly(t *testing.T) {
	t.Setenv(DirEnv, t.TempDir())
	if _, err := Dir(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Dir() with an empty folder: %v", err)
	}
}
