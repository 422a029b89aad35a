package ghlsim_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

// TestTaskSearch: POST /locations/{locationId}/tasks/search filters by every field, matches
// query against the title case-insensitively, pages with skip/limit in a stable order, and
// answers in HighLevel's shape (201, rows keyed by _id, no total).
func TestTaskSearch(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	ann, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, FirstName: "Ann", LastName: "Lee", Email: "ann@example.com", BusinessID: "biz-1"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2030, 1, 2, 15, 0, 0, 0, time.UTC)
	var all []string // creation order, which is the search's order
	add := func(c ghlsim.Contact, tk ghlsim.Task) ghlsim.Task {
		t.Helper()
		tk.DueDate = due
		out, err := f.sim.CreateTask(c.ID, tk)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, out.ID)
		return out
	}
	call := add(ann, ghlsim.Task{Title: "Call Back", Body: "about renewal", AssignedTo: "u1"})
	for i := range 5 {
		add(bob, ghlsim.Task{Title: fmt.Sprintf("Follow-up %d", i), AssignedTo: "u2", Completed: i%2 == 1})
	}
	other, err := f.sim.CreateContact(ghlsim.Contact{LocationID: "other-location", Email: "o@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sim.CreateTask(other.ID, ghlsim.Task{Title: "Call back elsewhere"}); err != nil {
		t.Fatal(err)
	}

	path := "/locations/" + loc + "/tasks/search"
	search := func(body map[string]any) []map[string]any {
		t.Helper()
		st, _, resp := f.call(t, "POST", path, pit, body)
		if st != http.StatusCreated {
			t.Fatalf("search %v: %d %v", body, st, resp)
		}
		if _, ok := resp["total"]; ok {
			t.Errorf("search answered a total: %v", resp)
		}
		rows, _ := resp["tasks"].([]any)
		out := make([]map[string]any, len(rows))
		for i, r := range rows {
			out[i] = r.(map[string]any)
		}
		return out
	}
	ids := func(rows []map[string]any) []string {
		out := []string{}
		for _, r := range rows {
			out = append(out, r["_id"].(string))
		}
		return out
	}

	rows := search(map[string]any{"query": "  cALL back "})
	want := map[string]any{
		"_id": call.ID, "title": "Call Back", "body": "about renewal", "assignedTo": "u1", "contactId": ann.ID,
		"locationId": loc, "completed": false, "deleted": false, "dueDate": "2030-01-02T15:00:00.000Z",
		"dateAdded": call.DateAdded.Format("2006-01-02T15:04:05.000Z"), "dateUpdated": call.DateUpdated.Format("2006-01-02T15:04:05.000Z"),
		"contactDetails": map[string]any{"firstName": "Ann", "lastName": "Lee"},
	}
	if len(rows) != 1 {
		t.Fatalf("query: %v", rows)
	}
	if diff := cmp.Diff(want, rows[0]); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	if got := search(map[string]any{"contactId": []string{bob.ID}, "limit": 1})[0]["contactDetails"]; !cmp.Equal(got, map[string]any{"firstName": nil, "lastName": nil}) {
		t.Errorf("contactDetails of a contact without a name = %v", got)
	}

	// Default page size 25; skip/limit pages cover everything once, in creation order.
	if got := ids(search(map[string]any{})); !cmp.Equal(got, all) {
		t.Errorf("all tasks = %v, want %v", got, all)
	}
	var paged []string
	for skip := 0; skip < 20; skip += 4 {
		page := ids(search(map[string]any{"limit": 4, "skip": skip}))
		paged = append(paged, page...)
		if len(page) < 4 {
			break
		}
	}
	if diff := cmp.Diff(all, paged); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		body map[string]any
		want []string
	}{
		{map[string]any{"contactId": []string{ann.ID}}, all[:1]},
		{map[string]any{"assignedTo": []string{"u2", "nobody"}, "completed": true}, []string{all[2], all[4]}},
		{map[string]any{"completed": false, "query": "FOLLOW"}, []string{all[1], all[3], all[5]}},
		{map[string]any{"businessId": "biz-1"}, all[:1]},
		{map[string]any{"businessId": "biz-2"}, []string{}},
		{map[string]any{"contactId": []string{}, "assignedTo": []string{}}, all}, // empty lists do not filter
		{map[string]any{"skip": 100}, []string{}},
	} {
		if got := ids(search(tc.body)); !cmp.Equal(got, tc.want) {
			t.Errorf("search %v = %v, want %v", tc.body, got, tc.want)
		}
	}

	// HighLevel-shaped errors; the well-formed ones still pass the contract.
	for _, tc := range []struct {
		body   any
		status int
		msg    any
	}{
		{map[string]any{"limit": 0}, http.StatusUnprocessableEntity, []any{"limit must be a positive integer"}},
		{map[string]any{"limit": 2.5, "skip": -1}, http.StatusUnprocessableEntity,
			[]any{"limit must be a positive integer", "skip must be an integer not less than 0"}},
	} {
		st, _, body := f.call(t, "POST", path, pit, tc.body)
		if st != tc.status || !cmp.Equal(body["message"], tc.msg) {
			t.Errorf("search %v: %d %v", tc.body, st, body)
		}
	}
	for _, tc := range []struct {
		path   string
		body   any
		status int
	}{
		{path, map[string]any{"locationId": loc}, http.StatusUnprocessableEntity}, // not in the DTO
		{path, map[string]any{"limit": "ten"}, http.StatusUnprocessableEntity},
		{path, map[string]any{"contactId": ann.ID}, http.StatusUnprocessableEntity}, // a string, not a list
		{path, []byte(`[]`), http.StatusBadRequest},
		{"/locations/other-location/tasks/search", map[string]any{}, http.StatusForbidden},
	} {
		if st, _, body := f.raw(t, "POST", tc.path, pit, tc.body, nil); st != tc.status || body["statusCode"] != float64(tc.status) {
			t.Errorf("search %s %v: %d %v", tc.path, tc.body, st, body)
		}
	}

	// A read: counted per operation, never as a write.
	st := f.sim.Stats()
	if st.Writes != 0 || st.Operations["task-search"] != st.Requests || st.Requests == 0 {
		t.Errorf("stats = writes %d, requests %d, task-search %d", st.Writes, st.Requests, st.Operations["task-search"])
	}
	f.contract(t)
}

// TestTaskSearchPageEdges: a page that ends exactly at the last task is full, the page at
// skip = the number of tasks is empty, a limit above the number of tasks returns them all,
// and deleted tasks leave the search at once (later tasks move up a place).
func TestTaskSearchPageEdges(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "edge@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for i := range 6 {
		tk, err := f.sim.CreateTask(c.ID, ghlsim.Task{Title: fmt.Sprint("T", i), DueDate: time.Date(2030, 1, 2, 15, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, tk.ID)
	}
	path := "/locations/" + loc + "/tasks/search"
	ids := func(body map[string]any) []string {
		t.Helper()
		st, _, resp := f.call(t, "POST", path, pit, body)
		if st != http.StatusCreated {
			t.Fatalf("search %v: %d %v", body, st, resp)
		}
		out := []string{}
		for _, r := range resp["tasks"].([]any) {
			out = append(out, r.(map[string]any)["_id"].(string))
		}
		return out
	}
	for _, tc := range []struct {
		body map[string]any
		want []string
	}{
		{map[string]any{"limit": 3, "skip": 3}, all[3:]},    // ends exactly at the last task
		{map[string]any{"limit": 3, "skip": 6}, []string{}}, // just past it
		{map[string]any{"limit": 1000}, all},
		{map[string]any{"limit": 1, "skip": 5}, all[5:]},
	} {
		if got := ids(tc.body); !cmp.Equal(got, tc.want) {
			t.Errorf("search %v = %v, want %v", tc.body, got, tc.want)
		}
	}
	if err := f.sim.DeleteTask(all[0]); err != nil {
		t.Fatal(err)
	}
	if got := ids(map[string]any{"limit": 3, "skip": 3}); !cmp.Equal(got, all[4:]) {
		t.Errorf("after a delete, skip 3 = %v, want %v", got, all[4:])
	}
	f.contract(t)
}
