package ghlsim_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

func contactOf(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	c, ok := body["contact"].(map[string]any)
	if !ok {
		t.Fatalf("no contact in %v", body)
	}
	return c
}

func TestContactCRUD(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	st, _, body := f.call(t, "POST", "/contacts/", pit, map[string]any{
		"locationId": loc, "firstName": "Ann", "lastName": "Lee", "email": "Ann@Example.com", "phone": "555-010-2030",
		"tags": []string{" VIP", "vip", "Gold "}, "dateOfBirth": "1990-09-25",
	})
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, body)
	}
	c := contactOf(t, body)
	id := c["id"].(string)
	if len(id) != 20 || c["phone"] != "+15550102030" || c["name"] != "Ann Lee" || c["emailLowerCase"] != "ann@example.com" ||
		!cmp.Equal(c["tags"], []any{"vip", "gold"}) || c["dateAdded"] != c["dateUpdated"] {
		t.Errorf("created contact = %v", c)
	}

	st, _, body = f.call(t, "GET", "/contacts/"+id, pit, nil)
	if st != http.StatusOK || contactOf(t, body)["firstName"] != "Ann" {
		t.Fatalf("get: %d %v", st, body)
	}

	// A no-op update changes nothing, not even dateUpdated.
	time.Sleep(2 * time.Millisecond)
	_, _, body = f.call(t, "PUT", "/contacts/"+id, pit, map[string]any{"firstName": "Ann"})
	if contactOf(t, body)["dateUpdated"] != c["dateUpdated"] {
		t.Error("no-op update moved dateUpdated")
	}
	st, _, body = f.call(t, "PUT", "/contacts/"+id, pit, map[string]any{"city": "Austin", "website": "https://lee.example"})
	u := contactOf(t, body)
	if st != http.StatusOK || body["succeded"] != true || u["city"] != "Austin" || u["website"] != "https://lee.example" || u["dateUpdated"] == c["dateUpdated"] {
		t.Errorf("update: %d %v", st, body)
	}
	// UpdateContactDto has no companyName: refused like any undefined property.
	st, _, body = f.raw(t, "PUT", "/contacts/"+id, pit, map[string]any{"companyName": "Lee Gym"}, nil)
	if msgs, _ := body["message"].([]any); st != http.StatusUnprocessableEntity || len(msgs) != 1 || msgs[0] != "property companyName should not exist" {
		t.Errorf("update with companyName: %d %v", st, body)
	}

	st, _, body = f.call(t, "DELETE", "/contacts/"+id, pit, nil)
	if st != http.StatusOK || body["succeded"] != true {
		t.Fatalf("delete: %d %v", st, body)
	}
	st, _, body = f.call(t, "GET", "/contacts/"+id, pit, nil)
	if st != http.StatusNotFound || body["message"] != "Contact not found" || body["statusCode"] != float64(404) {
		t.Errorf("get deleted: %d %v", st, body)
	}
	f.contract(t)
}

func TestDuplicateDetectionAndUpsert(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	first, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, FirstName: "Ann", Email: "ann@example.com", Phone: "+15550100001"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, FirstName: "Bob", Email: "bob@example.com", Phone: "+15550100002"})
	if err != nil {
		t.Fatal(err)
	}

	// E-mail is checked before phone: this matches Ann by e-mail and Bob by phone.
	st, _, body := f.call(t, "POST", "/contacts/", pit, map[string]any{"locationId": loc, "email": "ANN@example.com", "phone": "+15550100002"})
	meta, _ := body["meta"].(map[string]any)
	if st != http.StatusBadRequest || body["message"] != "This location does not allow duplicated contacts." ||
		meta["contactId"] != first.ID || meta["matchingField"] != "email" {
		t.Fatalf("duplicate by e-mail: %d %v", st, body)
	}
	st, _, body = f.call(t, "POST", "/contacts/", pit, map[string]any{"locationId": loc, "email": "new@example.com", "phone": "(555) 010-0002"})
	meta, _ = body["meta"].(map[string]any)
	if st != http.StatusBadRequest || meta["contactId"] != second.ID || meta["matchingField"] != "phone" {
		t.Fatalf("duplicate by phone: %d %v", st, body)
	}
	// Updating into someone else's e-mail is refused too.
	st, _, _ = f.call(t, "PUT", "/contacts/"+second.ID, pit, map[string]any{"email": "ann@example.com"})
	if st != http.StatusBadRequest {
		t.Errorf("update into a duplicate: %d", st)
	}

	// Upsert updates the duplicate (found by phone here) instead of failing.
	st, _, body = f.call(t, "POST", "/contacts/upsert", pit, map[string]any{"locationId": loc, "phone": "555.010.0002", "city": "Reno"})
	if c := contactOf(t, body); st != http.StatusOK || body["new"] != false || c["id"] != second.ID || c["city"] != "Reno" {
		t.Fatalf("upsert existing: %d %v", st, body)
	}
	st, _, body = f.call(t, "POST", "/contacts/upsert", pit, map[string]any{"locationId": loc, "email": "cy@example.com"})
	if st != http.StatusOK || body["new"] != true {
		t.Fatalf("upsert new: %d %v", st, body)
	}
	if n := len(f.sim.Snapshot().Contacts); n != 3 {
		t.Errorf("contacts = %d, want 3", n)
	}

	// With duplicates allowed, create does not check.
	g := newFixture(t, ghlsim.Options{AllowDuplicates: true})
	for range 2 {
		if st, _, body := g.call(t, "POST", "/contacts/", pit, map[string]any{"locationId": loc, "email": "same@example.com"}); st != http.StatusCreated {
			t.Fatalf("create with duplicates allowed: %d %v", st, body)
		}
	}
	f.contract(t)
	g.contract(t)
}

// Upsert replaces the existing person's tags, as HighLevel's UpsertContactDto says ("will
// overwrite all current tags"); the duplicate rule is a per-location setting; the duplicate
// search names the person whichever the setting.
func TestUpsertOverwritesAndDuplicateSetting(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	ann, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, FirstName: "Ann", Email: "ann@example.com", Phone: "+15550100001", Tags: []string{"crm", "shared"}})
	if err != nil {
		t.Fatal(err)
	}
	st, _, body := f.call(t, "POST", "/contacts/upsert", pit, map[string]any{"locationId": loc, "email": "ann@example.com", "firstName": "Annie", "tags": []string{"loyal"}})
	if c := contactOf(t, body); st != http.StatusOK || body["new"] != false || c["id"] != ann.ID || !cmp.Equal(c["tags"], []any{"loyal"}) || c["firstName"] != "Annie" {
		t.Fatalf("upsert of an existing person: %d %v", st, body)
	}
	for _, q := range []struct{ query, want string }{
		{"email=ANN%40example.com", ann.ID}, {"number=%2B15550100001", ann.ID}, {"email=x%40example.com&number=555-010-0001", ann.ID}, {"email=x%40example.com", ""},
	} {
		st, _, body := f.call(t, "GET", "/contacts/search/duplicate?locationId="+loc+"&"+q.query, pit, nil)
		got, _ := body["contact"].(map[string]any)
		if st != http.StatusOK || (q.want == "" && got != nil) || (q.want != "" && (got == nil || got["id"] != q.want)) {
			t.Errorf("duplicate search %s: %d %v, want %q", q.query, st, body, q.want)
		}
	}
	if st, _, _ := f.call(t, "GET", "/contacts/search/duplicate?locationId="+loc, pit, nil); st != http.StatusBadRequest {
		t.Errorf("duplicate search without e-mail or number: %d, want 400", st)
	}
	// This location allows duplicates from now on: create makes a second Ann.
	f.sim.SetAllowDuplicates(loc, true)
	st, _, body = f.call(t, "POST", "/contacts/", pit, map[string]any{"locationId": loc, "email": "ann@example.com"})
	if st != http.StatusCreated || contactOf(t, body)["id"] == ann.ID {
		t.Fatalf("create with duplicates allowed: %d %v", st, body)
	}
	st, _, body = f.call(t, "GET", "/contacts/search/duplicate?locationId="+loc+"&email=ann%40example.com", pit, nil)
	if got, _ := body["contact"].(map[string]any); st != http.StatusOK || got == nil || got["id"] != ann.ID {
		t.Errorf("duplicate search with duplicates allowed: %d %v, want the oldest, %s", st, body, ann.ID)
	}
	f.sim.SetAllowDuplicates(loc, false)
	st, _, body = f.call(t, "POST", "/contacts/", pit, map[string]any{"locationId": loc, "phone": "555 010 0001"})
	if meta, _ := body["meta"].(map[string]any); st != http.StatusBadRequest || meta["contactId"] != ann.ID {
		t.Errorf("create of a duplicate phone: %d %v", st, body)
	}
	f.contract(t)
}

func TestTagsNormalized(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "t@example.com", Tags: []string{"A"}})
	if err != nil {
		t.Fatal(err)
	}
	st, _, body := f.call(t, "POST", "/contacts/"+c.ID+"/tags", pit, map[string]any{"tags": []string{"New Member", "a", " NEW member ", ""}})
	if st != http.StatusCreated || !cmp.Equal(body["tags"], []any{"a", "new member"}) {
		t.Fatalf("add tags: %d %v", st, body)
	}
	st, _, body = f.call(t, "DELETE", "/contacts/"+c.ID+"/tags", pit, map[string]any{"tags": []string{"A", "missing"}})
	if st != http.StatusOK || !cmp.Equal(body["tags"], []any{"new member"}) {
		t.Fatalf("remove tags: %d %v", st, body)
	}
	got, _ := f.sim.Contact(c.ID)
	if !got.DateUpdated.After(c.DateUpdated) {
		t.Error("tag change did not move dateUpdated")
	}
	f.contract(t)
}

// TestPagination: both cursor styles return every contact exactly once, in order, even when
// many contacts share a dateAdded millisecond.
func TestPagination(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []string
	added := map[string]time.Time{}
	for i := range 230 {
		c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, FirstName: fmt.Sprintf("P%03d", i), Email: fmt.Sprintf("p%03d@example.com", i),
			DateAdded: base.Add(time.Duration(i/7) * time.Second)}) // clusters of 7 per timestamp
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, c.ID)
		added[c.ID] = c.DateAdded
	}
	// Another location's contacts never show up.
	if _, err := f.sim.CreateContact(ghlsim.Contact{LocationID: "other-location", Email: "x@example.com"}); err != nil {
		t.Fatal(err)
	}

	var listed []string
	q := url.Values{"locationId": {loc}, "limit": {"100"}}
	for pages := 0; pages < 10; pages++ {
		st, _, body := f.call(t, "GET", "/contacts/?"+q.Encode(), pit, nil)
		if st != http.StatusOK {
			t.Fatalf("list: %d %v", st, body)
		}
		for _, c := range body["contacts"].([]any) {
			listed = append(listed, c.(map[string]any)["id"].(string))
		}
		meta := body["meta"].(map[string]any)
		if meta["total"] != float64(230) {
			t.Errorf("total = %v", meta["total"])
		}
		if meta["startAfterId"] == nil {
			if meta["nextPageUrl"] != nil {
				t.Error("last page has a next page URL")
			}
			break
		}
		q.Set("startAfter", fmt.Sprintf("%.0f", meta["startAfter"].(float64)))
		q.Set("startAfterId", meta["startAfterId"].(string))
	}
	// Oldest first, ties broken by id: the order the cursor relies on.
	slices.SortFunc(want, func(a, b string) int {
		if c := added[a].Compare(added[b]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if diff := cmp.Diff(want, listed); diff != "" {
		t.Errorf("GET /contacts/ pages (-want +got):\n%s", diff)
	}

	for _, dir := range []string{"asc", "desc"} {
		var ids []string
		var after []any
		for pages := 0; pages < 20; pages++ {
			req := map[string]any{"locationId": loc, "pageLimit": 37, "sort": []map[string]string{{"field": "dateAdded", "direction": dir}}}
			if after != nil {
				req["searchAfter"] = after
			}
			st, _, body := f.call(t, "POST", "/contacts/search", pit, req)
			if st != http.StatusOK || body["total"] != float64(230) {
				t.Fatalf("search: %d %v", st, body)
			}
			page := body["contacts"].([]any)
			for _, c := range page {
				ids = append(ids, c.(map[string]any)["id"].(string))
			}
			if len(page) < 37 {
				break
			}
			after = page[len(page)-1].(map[string]any)["searchAfter"].([]any)
		}
		if dir == "desc" {
			slices.Reverse(ids)
		}
		if diff := cmp.Diff(listed, ids); diff != "" {
			t.Errorf("search %s order differs from GET /contacts/ (-list +search):\n%s", dir, diff)
		}
	}

	st, _, body := f.call(t, "POST", "/contacts/search", pit, map[string]any{"locationId": loc, "pageLimit": 100, "page": 3})
	if page := body["contacts"].([]any); st != http.StatusOK || len(page) != 30 || page[0].(map[string]any)["id"] != listed[200] {
		t.Errorf("search page 3: %d, %d contacts", st, len(page))
	}

	// Cursor rules.
	if st, _, _ := f.call(t, "GET", "/contacts/?locationId="+loc+"&startAfterId=abc", pit, nil); st != http.StatusUnprocessableEntity {
		t.Errorf("startAfterId alone: %d", st)
	}
	if st, _, _ := f.call(t, "GET", "/contacts/?locationId="+loc+"&limit=101", pit, nil); st != http.StatusUnprocessableEntity {
		t.Errorf("limit 101: %d", st)
	}
	if st, _, _ := f.call(t, "GET", "/contacts/?locationId=other-location", pit, nil); st != http.StatusForbidden {
		t.Errorf("other location: %d", st)
	}
	if st, _, _ := f.raw(t, "POST", "/contacts/search", pit, map[string]any{"locationId": loc}, nil); st != http.StatusUnprocessableEntity {
		t.Errorf("search without pageLimit: %d", st)
	}
	st, _, body = f.call(t, "POST", "/contacts/search", pit, map[string]any{"locationId": loc, "pageLimit": 5,
		"filters": []map[string]any{{"field": "email", "operator": "eq", "value": "P007@EXAMPLE.COM"}}})
	if st != http.StatusOK || body["total"] != float64(1) {
		t.Errorf("search by e-mail: %d %v", st, body)
	}
	f.contract(t)
}

func TestTasksNotesAppointmentsFields(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "t@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	st, _, body := f.call(t, "POST", "/contacts/"+c.ID+"/tasks", pit, map[string]any{"title": "Call", "dueDate": "2030-01-02T15:00:00Z", "completed": false})
	task, _ := body["task"].(map[string]any)
	if st != http.StatusCreated || task["dueDate"] != "2030-01-02T15:00:00.000Z" || task["contactId"] != c.ID {
		t.Fatalf("create task: %d %v", st, body)
	}
	tid := task["id"].(string)
	if st, _, body := f.raw(t, "POST", "/contacts/"+c.ID+"/tasks", pit, map[string]any{"title": "No due date", "completed": false}, nil); st != http.StatusUnprocessableEntity {
		t.Errorf("task without dueDate: %d %v", st, body)
	}
	if st, _, body := f.call(t, "PUT", "/contacts/"+c.ID+"/tasks/"+tid+"/completed", pit, map[string]any{"completed": true}); st != http.StatusOK || body["task"].(map[string]any)["completed"] != true {
		t.Errorf("complete: %d %v", st, body)
	}
	if st, _, _ := f.call(t, "GET", "/contacts/other/tasks/"+tid, pit, nil); st != http.StatusNotFound {
		t.Errorf("task under another contact: %d", st)
	}

	st, _, body = f.call(t, "POST", "/contacts/"+c.ID+"/notes", pit, map[string]any{"body": "hello", "pinned": true})
	if st != http.StatusCreated || body["note"].(map[string]any)["pinned"] != true {
		t.Fatalf("create note: %d %v", st, body)
	}
	if st, _, body := f.call(t, "GET", "/contacts/"+c.ID+"/notes", pit, nil); st != http.StatusOK || len(body["notes"].([]any)) != 1 {
		t.Errorf("list notes: %d %v", st, body)
	}

	start := time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)
	if _, err := f.sim.CreateAppointment(c.ID, ghlsim.Appointment{Title: "Intro", StartTime: start, EndTime: start.Add(time.Hour), Users: []string{"u1"}}); err != nil {
		t.Fatal(err)
	}
	st, _, body = f.call(t, "GET", "/contacts/"+c.ID+"/appointments", pit, nil)
	ev, _ := body["events"].([]any)
	if st != http.StatusOK || len(ev) != 1 || ev[0].(map[string]any)["appointmentStatus"] != "confirmed" {
		t.Errorf("appointments: %d %v", st, body)
	}

	level, err := f.sim.AddCustomField(ghlsim.CustomField{LocationID: loc, Name: "Member Level"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sim.AddCustomField(ghlsim.CustomField{LocationID: loc, Name: "Pipeline Stage", Model: "opportunity"}); err != nil {
		t.Fatal(err)
	}
	st, _, body = f.call(t, "GET", "/locations/"+loc+"/customFields?model=contact", pit, nil)
	if fs, _ := body["customFields"].([]any); st != http.StatusOK || len(fs) != 1 || fs[0].(map[string]any)["fieldKey"] != "contact.member_level" {
		t.Errorf("custom fields: %d %v", st, body)
	}
	// Custom field values keep their types.
	st, _, body = f.call(t, "PUT", "/contacts/"+c.ID, pit, map[string]any{"customFields": []map[string]any{{"id": level.ID, "field_value": 3}}})
	if cfs := contactOf(t, body)["customFields"].([]any); st != http.StatusOK || len(cfs) != 1 || cfs[0].(map[string]any)["value"] != float64(3) {
		t.Errorf("numeric custom field: %d %v", st, body)
	}
	// Outside the DTO (which requires id), the simulator also resolves a field by key; an
	// empty value clears the field.
	st, _, body = f.raw(t, "PUT", "/contacts/"+c.ID, pit, map[string]any{"customFields": []map[string]any{{"key": "contact.member_level", "field_value": ""}}}, nil)
	if cfs := contactOf(t, body)["customFields"].([]any); st != http.StatusOK || len(cfs) != 0 {
		t.Errorf("clear custom field by key: %d %v", st, body)
	}
	f.contract(t)
}

// TestRequestValidation: HighLevel-shaped errors for requests that break the DTOs.
func TestRequestValidation(t *testing.T) {
	f := newFixture(t, ghlsim.Options{MaxBodyBytes: 1 << 10})
	c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "t@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	st, _, body := f.raw(t, "PUT", "/contacts/"+c.ID, pit, map[string]any{"locationId": loc, "firstName": "X"}, nil)
	if st != http.StatusUnprocessableEntity || !cmp.Equal(body["message"], []any{"property locationId should not exist"}) || body["error"] != "Unprocessable Entity" {
		t.Errorf("unknown property: %d %v", st, body)
	}
	st, _, body = f.raw(t, "POST", "/contacts/", pit, map[string]any{"locationId": loc, "dnd": "yes"}, nil)
	if st != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(body["message"]), "dnd must be a boolean") {
		t.Errorf("wrong type: %d %v", st, body)
	}
	st, _, body = f.raw(t, "POST", "/contacts/", pit, []byte(`{"locationId":`), nil)
	if st != http.StatusBadRequest {
		t.Errorf("broken JSON: %d %v", st, body)
	}
	st, _, _ = f.raw(t, "POST", "/contacts/", pit, map[string]any{"locationId": loc, "firstName": strings.Repeat("x", 2<<10)}, nil)
	if st != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", st)
	}
	st, _, body = f.raw(t, "GET", "/contacts/"+c.ID, pit, nil, http.Header{"Version": {""}})
	if st != http.StatusBadRequest {
		t.Errorf("no Version header: %d %v", st, body)
	}
	st, _, body = f.raw(t, "GET", "/contacts/"+c.ID, "", nil, nil)
	if st != http.StatusUnauthorized || body["message"] != "Invalid JWT" {
		t.Errorf("no token: %d %v", st, body)
	}
	st, _, _ = f.raw(t, "GET", "/nothing", pit, nil, nil)
	if st != http.StatusNotFound {
		t.Errorf("unknown route: %d", st)
	}
	// Contacts of another location are invisible.
	other, err := f.sim.CreateContact(ghlsim.Contact{LocationID: "other-location", Email: "o@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if st, _, _ := f.call(t, "GET", "/contacts/"+other.ID, pit, nil); st != http.StatusNotFound {
		t.Errorf("other location's contact: %d", st)
	}
	if st, _, _ := f.call(t, "POST", "/contacts/", pit, map[string]any{"locationId": "other-location"}); st != http.StatusForbidden {
		t.Errorf("create in another location: %d", st)
	}
	if st := f.sim.Stats().Statuses; st["413"] != 1 || st["401"] != 1 {
		t.Errorf("status counters = %v", st)
	}
	f.contract(t)
}

// TestStatsWrites: reads leave Writes at zero (what a dry run asserts); every mutating API
// request counts, failed or not; admin edits ("a person in HighLevel") do not.
func TestStatsWrites(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "t@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sim.AddTags(c.ID, "x"); err != nil {
		t.Fatal(err)
	}
	f.call(t, "GET", "/contacts/"+c.ID, pit, nil)
	f.call(t, "GET", "/contacts/"+c.ID+"/tasks", pit, nil)
	f.call(t, "POST", "/contacts/search", pit, map[string]any{"locationId": loc, "pageLimit": 10})
	if st := f.sim.Stats(); st.Writes != 0 || st.Requests != 3 || st.Operations["search-contacts-advanced"] != 1 {
		t.Fatalf("after reads: %+v", st)
	}
	f.call(t, "PUT", "/contacts/"+c.ID, pit, map[string]any{"city": "Reno"})
	f.call(t, "DELETE", "/contacts/missing", pit, nil)
	st := f.sim.Stats()
	if st.Writes != 2 || st.WritesByLocation[loc] != 2 {
		t.Errorf("after two writes: writes %d, by location %v", st.Writes, st.WritesByLocation)
	}
	_, _, body := f.raw(t, "GET", "/admin/stats", "", nil, nil)
	if body["writes"] != float64(2) {
		t.Errorf("GET /admin/stats = %v", body)
	}
	f.sim.ResetStats()
	if st := f.sim.Stats(); st.Writes != 0 || st.Requests != 0 {
		t.Errorf("after reset: %+v", st)
	}
	f.contract(t)
}

// TestDeterministic: the same seed and the same operations give the same ids and tokens.
func TestDeterministic(t *testing.T) {
	run := func() []string {
		sim := ghlsim.New(ghlsim.Options{Seed: 42})
		defer sim.Close()
		var ids []string
		for i := range 5 {
			c, err := sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: fmt.Sprintf("d%d@example.com", i)})
			if err != nil {
				t.Fatal(err)
			}
			n, err := sim.CreateNote(c.ID, ghlsim.Note{Body: "n"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.ID, n.ID)
		}
		return ids
	}
	a, b := run(), run()
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different ids:\n%s", diff)
	}
	other := ghlsim.New(ghlsim.Options{Seed: 43})
	defer other.Close()
	c, err := other.CreateContact(ghlsim.Contact{LocationID: loc, Email: "d0@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == a[0] {
		t.Error("different seeds gave the same id")
	}
}

// TestConcurrentUse hammers the API from several goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	f := newFixture(t, ghlsim.Options{RateMax: 10_000})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				st, _, body := f.call(t, "POST", "/contacts/", pit, map[string]any{"locationId": loc, "email": fmt.Sprintf("w%d-%d@example.com", w, i)})
				if st != http.StatusCreated {
					t.Errorf("create: %d %v", st, body)
					return
				}
				id := contactOf(t, body)["id"].(string)
				f.call(t, "POST", "/contacts/"+id+"/tags", pit, map[string]any{"tags": []string{"t"}})
				f.call(t, "POST", "/contacts/"+id+"/notes", pit, map[string]any{"body": "n"})
				f.sim.Snapshot()
			}
		})
	}
	wg.Wait()
	f.wait(t)
	snap := f.sim.Snapshot()
	if len(snap.Contacts) != 160 || len(snap.Notes) != 160 {
		t.Errorf("snapshot has %d contacts and %d notes, want 160 each", len(snap.Contacts), len(snap.Notes))
	}
	if st := f.sim.Stats().Webhooks; st.Acknowledged != 480 || st.Pending != 0 {
		t.Errorf("webhooks = %+v, want 480 acknowledged", st)
	}
	f.contract(t)
}

// Search's date range (the search-date-range departure): bounds on dateUpdated, sorted by
// it with the [dateUpdated, id] cursor, and every malformed range refused.
func TestSearchDateRange(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	var ids []string
	for i := range 5 {
		c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: fmt.Sprintf("r%d@example.com", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	time.Sleep(5 * time.Millisecond)
	since := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	for _, i := range []int{3, 1, 4} { // updated in this order: the sort follows it
		if _, err := f.sim.UpdateContact(ids[i], ghlsim.ContactPatch{FirstName: new(fmt.Sprint("U", i))}); err != nil {
			t.Fatal(err)
		}
	}
	body := map[string]any{"locationId": loc, "pageLimit": 2,
		"filters": []map[string]any{{"field": "dateUpdated", "operator": "range", "value": map[string]string{"gte": since.Format(time.RFC3339Nano)}}},
		"sort":    []map[string]any{{"field": "dateUpdated", "direction": "asc"}}}
	var got []string
	for page := 0; page < 5; page++ {
		st, _, out := f.call(t, "POST", "/contacts/search", pit, body)
		if st != http.StatusOK || out["total"] != float64(3) {
			t.Fatalf("range search: %d %v", st, out)
		}
		cs := out["contacts"].([]any)
		for _, c := range cs {
			got = append(got, c.(map[string]any)["id"].(string))
		}
		if len(cs) < 2 {
			break
		}
		body["searchAfter"] = cs[len(cs)-1].(map[string]any)["searchAfter"]
	}
	if want := []string{ids[3], ids[1], ids[4]}; !slices.Equal(got, want) {
		t.Errorf("changed since %s = %v, want %v (in update order)", since, got, want)
	}
	delete(body, "searchAfter")
	body["filters"] = []map[string]any{{"field": "dateUpdated", "operator": "range", "value": map[string]string{"lt": since.Format(time.RFC3339Nano)}}}
	if st, _, out := f.call(t, "POST", "/contacts/search", pit, body); st != http.StatusOK || out["total"] != float64(2) {
		t.Errorf("range lt: %d %v", st, out)
	}
	for _, bad := range []any{map[string]string{}, map[string]string{"after": "2020-01-01T00:00:00Z"}, map[string]string{"gte": "yesterday"}, "2020-01-01"} {
		b := map[string]any{"locationId": loc, "pageLimit": 2, "filters": []map[string]any{{"field": "dateUpdated", "operator": "range", "value": bad}}}
		if st, _, out := f.raw(t, "POST", "/contacts/search", pit, b, nil); st != http.StatusUnprocessableEntity {
			t.Errorf("range value %v: %d %v", bad, st, out)
		}
	}
	b := map[string]any{"locationId": loc, "pageLimit": 2, "filters": []map[string]any{{"field": "email", "operator": "range", "value": map[string]string{"gte": since.Format(time.RFC3339Nano)}}}}
	if st, _, out := f.raw(t, "POST", "/contacts/search", pit, b, nil); st != http.StatusUnprocessableEntity {
		t.Errorf("range on e-mail: %d %v", st, out)
	}
	f.contract(t)
}
