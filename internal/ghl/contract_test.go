package ghl_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

// clientOperations are the HighLevel operations the client exposes; the contract test must
// exercise every one.
var clientOperations = []string{
	"get-contact", "create-contact", "update-contact", "delete-contact", "upsert-contact", "get-duplicate-contact",
	"get-contacts", "search-contacts-advanced", "get-contacts-by-businessId",
	"add-tags", "remove-tags",
	"get-all-tasks", "get-task", "create-task", "update-task", "delete-task", "update-task-completed", "task-search",
	"get-all-notes", "get-note", "create-note", "update-note", "delete-note",
	"get-appointments-for-contact", "get-custom-fields",
	"get-access-token",
}

// TestContract drives every client method against the simulator through a transport that
// validates each request against HighLevel's request schemas and each response against the
// response schemas, including error answers.
func TestContract(t *testing.T) {
	e := newEnv(t, ghlsim.Options{Seed: 7})
	ctx := ctxT(t)
	c := e.client(t, ghl.StaticToken(pit), nil)

	level, err := e.sim.AddCustomField(ghlsim.CustomField{LocationID: loc, Name: "Member Level"})
	if err != nil {
		t.Fatal(err)
	}
	visits, err := e.sim.AddCustomField(ghlsim.CustomField{LocationID: loc, Name: "Visits", DataType: "NUMERICAL"})
	if err != nil {
		t.Fatal(err)
	}

	// Contacts.
	ann, err := c.CreateContact(ctx, ghl.ContactInput{
		FirstName: new("Ann"), LastName: new("Lee"), Email: new("ann@example.com"), Phone: new("(555) 010-2030"),
		DateOfBirth: new("1990-09-25"), Source: new("hlrz"),
		DNDSettings:  map[string]ghl.DNDSetting{"SMS": {Status: "active", Message: "asked"}},
		Tags:         []string{"VIP", " vip ", "Gold"},
		CustomFields: []ghl.CustomFieldInput{{ID: level.ID, Value: "gold"}},
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if ann.ID == "" || ann.Phone != "+15550102030" || !slices.Equal(ann.Tags, []string{"vip", "gold"}) || ann.DateAdded.IsZero() {
		t.Fatalf("created contact = %+v", ann)
	}
	got, err := c.GetContact(ctx, ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ann, got); diff != "" {
		t.Errorf("get differs from create (-create +get):\n%s", diff)
	}

	_, err = c.CreateContact(ctx, ghl.ContactInput{FirstName: new("Ann"), Email: new("ANN@example.com")})
	if id, ok := ghl.DuplicateContactID(err); !ok || id != ann.ID || !errors.Is(err, ghl.ErrValidation) || ghl.Retryable(err) {
		t.Fatalf("duplicate e-mail: err = %v, id %q", err, id)
	}
	_, err = c.CreateContact(ctx, ghl.ContactInput{FirstName: new("Other"), Email: new("other@example.com"), Phone: new("+1 555 010 2030")})
	var apiErr *ghl.APIError
	if !errors.As(err, &apiErr) || apiErr.DuplicateContactID != ann.ID || apiErr.DuplicateField != "phone" {
		t.Fatalf("duplicate phone: err = %v", err)
	}
	if strings.Contains(err.Error(), "example.com") || strings.Contains(err.Error(), "5550102030") {
		t.Errorf("error text leaks personal data: %q", err)
	}
	// The duplicate search: e-mail first, then phone, nothing for a stranger.
	for _, tc := range []struct{ email, phone, want string }{
		{"ANN@example.com", "", ann.ID}, {"", "+1 555 010 2030", ann.ID}, {"nobody@example.com", "+15559999999", ""},
		{"nobody@example.com", "(555) 010-2030", ann.ID},
	} {
		got, found, err := c.FindDuplicate(ctx, tc.email, tc.phone)
		if err != nil || found != (tc.want != "") || got.ID != tc.want {
			t.Errorf("FindDuplicate(%q, %q) = %q, %v, %v; want %q", tc.email, tc.phone, got.ID, found, err, tc.want)
		}
	}
	if _, _, err := c.FindDuplicate(ctx, "", ""); err == nil {
		t.Error("FindDuplicate without e-mail or phone: no error")
	}

	time.Sleep(2 * time.Millisecond) // dateUpdated has millisecond precision
	upd, err := c.UpdateContact(ctx, ann.ID, ghl.ContactInput{Website: new("https://lee.example"),
		CustomFields: []ghl.CustomFieldInput{{ID: visits.ID, Value: 42}}})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if upd.Website != "https://lee.example" || !upd.DateUpdated.After(ann.DateUpdated.Time) || len(upd.CustomFields) != 2 {
		t.Errorf("updated contact = %+v", upd)
	}
	// UpdateContactDto has no companyName: refused before anything is sent.
	before := e.sim.Stats().Requests
	if _, err := c.UpdateContact(ctx, ann.ID, ghl.ContactInput{CompanyName: new("Lee Gym")}); !errors.Is(err, ghl.ErrValidation) || ghl.Retryable(err) {
		t.Fatalf("update with companyName: %v", err)
	}
	if after := e.sim.Stats().Requests; after != before {
		t.Errorf("update with companyName sent %d requests", after-before)
	}

	same, created, err := c.UpsertContact(ctx, ghl.ContactInput{Email: new("ann@example.com"), City: new("Austin")})
	if err != nil || created || same.ID != ann.ID || same.City != "Austin" {
		t.Fatalf("upsert of existing: created=%v id=%s city=%s err=%v", created, same.ID, same.City, err)
	}
	bob, created, err := c.UpsertContact(ctx, ghl.ContactInput{FirstName: new("Bob"), Email: new("bob@example.com")})
	if err != nil || !created || bob.ID == "" || bob.ID == ann.ID {
		t.Fatalf("upsert of new: created=%v id=%s err=%v", created, bob.ID, err)
	}
	ids := []string{ann.ID, bob.ID}
	for i := range 5 {
		x, err := c.CreateContact(ctx, ghl.ContactInput{FirstName: new(fmt.Sprintf("P%d", i)), Email: new(fmt.Sprintf("p%d@example.com", i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, x.ID)
	}
	sort.Strings(ids)

	// Both pagination styles must return every contact exactly once.
	var listed []string
	var cur *ghl.ListCursor
	for pages := 0; ; pages++ {
		p, err := c.ListContacts(ctx, ghl.ListContactsParams{Limit: 3, After: cur})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if p.Total != len(ids) {
			t.Errorf("list total = %d, want %d", p.Total, len(ids))
		}
		for _, x := range p.Contacts {
			listed = append(listed, x.ID)
		}
		if cur = p.Next; cur == nil {
			break
		}
		if pages > 10 {
			t.Fatal("list does not end")
		}
	}
	sort.Strings(listed)
	if diff := cmp.Diff(ids, listed); diff != "" {
		t.Errorf("GET /contacts/ pages (-want +got):\n%s", diff)
	}
	var searched []string
	var after []byte
	for pages := 0; ; pages++ {
		p, err := c.SearchContacts(ctx, ghl.SearchParams{PageLimit: 2, SearchAfter: after, Sort: []ghl.SearchSort{{Field: "dateUpdated", Direction: "desc"}}})
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		for _, x := range p.Contacts {
			searched = append(searched, x.ID)
		}
		if after = p.Next; after == nil {
			break
		}
		if pages > 10 {
			t.Fatal("search does not end")
		}
	}
	sort.Strings(searched)
	if diff := cmp.Diff(ids, searched); diff != "" {
		t.Errorf("search pages (-want +got):\n%s", diff)
	}
	hit, err := c.SearchContacts(ctx, ghl.SearchParams{PageLimit: 10, Filters: []ghl.SearchFilter{{Field: "email", Operator: "eq", Value: "BOB@example.com"}}})
	if err != nil || len(hit.Contacts) != 1 || hit.Contacts[0].ID != bob.ID || hit.Next != nil {
		t.Fatalf("search by e-mail: %+v, %v", hit, err)
	}

	if _, err := e.sim.UpdateContact(ann.ID, ghlsim.ContactPatch{BusinessID: new("biz-1")}); err != nil {
		t.Fatal(err)
	}
	biz, err := c.ContactsByBusiness(ctx, "biz-1", ghl.BusinessParams{Limit: 10})
	if err != nil || len(biz.Contacts) != 1 || biz.Contacts[0].ID != ann.ID || biz.Total != 1 {
		t.Fatalf("by business: %+v, %v", biz, err)
	}

	// Tags.
	tags, err := c.AddTags(ctx, ann.ID, []string{"Trial", "vip"})
	if err != nil || !slices.Equal(tags, []string{"vip", "gold", "trial"}) {
		t.Fatalf("add tags = %v, %v", tags, err)
	}
	tags, err = c.RemoveTags(ctx, ann.ID, []string{"GOLD"})
	if err != nil || !slices.Equal(tags, []string{"vip", "trial"}) {
		t.Fatalf("remove tags = %v, %v", tags, err)
	}

	// Tasks.
	due := time.Date(2030, 1, 2, 15, 0, 0, 0, time.UTC)
	task, err := c.CreateTask(ctx, ann.ID, ghl.NewTask{Title: "Call back", Body: "about renewal", DueDate: due})
	if err != nil || task.ID == "" || !task.DueDate.Equal(due) || task.Completed || task.ContactID != ann.ID {
		t.Fatalf("create task = %+v, %v", task, err)
	}
	if tasks, err := c.ListTasks(ctx, ann.ID); err != nil || len(tasks) != 1 || tasks[0].ID != task.ID {
		t.Fatalf("list tasks = %+v, %v", tasks, err)
	}
	if got, err := c.GetTask(ctx, ann.ID, task.ID); err != nil || got.Title != "Call back" {
		t.Fatalf("get task = %+v, %v", got, err)
	}
	later := due.Add(24 * time.Hour)
	if got, err := c.UpdateTask(ctx, ann.ID, task.ID, ghl.TaskUpdate{Title: new("Call back today"), DueDate: &later}); err != nil || got.Title != "Call back today" || !got.DueDate.Equal(later) {
		t.Fatalf("update task = %+v, %v", got, err)
	}
	if got, err := c.SetTaskCompleted(ctx, ann.ID, task.ID, true); err != nil || !got.Completed {
		t.Fatalf("complete task = %+v, %v", got, err)
	}

	// The location-wide task search, and finding a task's contact through it.
	welcome, err := c.CreateTask(ctx, bob.ID, ghl.NewTask{Title: "Send welcome pack", DueDate: due, AssignedTo: "user-1"})
	if err != nil {
		t.Fatal(err)
	}
	annTask, err := c.GetTask(ctx, ann.ID, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	var paged []ghl.Task
	for skip, pages := 0, 0; ; pages++ {
		p, err := c.SearchTasks(ctx, ghl.TaskSearchParams{Limit: 1, Skip: skip})
		if err != nil {
			t.Fatalf("task search: %v", err)
		}
		paged = append(paged, p.Tasks...)
		if skip = p.Next; skip == 0 {
			break
		}
		if pages > 5 {
			t.Fatal("task search does not end")
		}
	}
	if diff := cmp.Diff([]ghl.Task{annTask, welcome}, paged); diff != "" {
		t.Errorf("task search pages (-want +got):\n%s", diff)
	}
	done := true
	for _, tc := range []struct {
		name string
		p    ghl.TaskSearchParams
		want []ghl.Task
	}{
		{"query", ghl.TaskSearchParams{Query: "CALL BACK"}, []ghl.Task{annTask}},
		{"contact", ghl.TaskSearchParams{ContactIDs: []string{bob.ID, "no-such-contact"}}, []ghl.Task{welcome}},
		{"completed", ghl.TaskSearchParams{Completed: &done}, []ghl.Task{annTask}},
		{"assignee", ghl.TaskSearchParams{AssignedTo: []string{"user-1"}, Query: "welcome"}, []ghl.Task{welcome}},
		{"business", ghl.TaskSearchParams{BusinessID: "biz-1"}, []ghl.Task{annTask}},
		{"nothing", ghl.TaskSearchParams{Query: "no such task"}, []ghl.Task{}},
	} {
		p, err := c.SearchTasks(ctx, tc.p)
		if err != nil || p.Next != 0 {
			t.Errorf("task search by %s: next %d, %v", tc.name, p.Next, err)
		}
		if diff := cmp.Diff(tc.want, p.Tasks); diff != "" {
			t.Errorf("task search by %s (-want +got):\n%s", tc.name, diff)
		}
	}
	if id, err := c.FindTaskContact(ctx, welcome.ID, "Send welcome pack"); err != nil || id != bob.ID {
		t.Fatalf("find task contact = %q, %v", id, err)
	}
	elsewhere, err := ghl.New(ghl.Options{BaseURL: e.srv.URL, LocationID: "locSimOther000000001", Auth: ghl.StaticToken(pit), HTTPClient: e.httpClient()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := elsewhere.SearchTasks(ctx, ghl.TaskSearchParams{}); !errors.Is(err, ghl.ErrForbidden) || ghl.Retryable(err) {
		t.Fatalf("task search in another location: %v", err)
	}

	if err := c.DeleteTask(ctx, ann.ID, task.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetTask(ctx, ann.ID, task.ID); !errors.Is(err, ghl.ErrNotFound) || ghl.Retryable(err) {
		t.Fatalf("get deleted task: %v", err)
	}

	// Notes.
	note, err := c.CreateNote(ctx, ann.ID, ghl.NewNote{Body: "Prefers mornings", Title: "Schedule"})
	if err != nil || note.ID == "" || note.Body != "Prefers mornings" {
		t.Fatalf("create note = %+v, %v", note, err)
	}
	if notes, err := c.ListNotes(ctx, ann.ID); err != nil || len(notes) != 1 {
		t.Fatalf("list notes = %+v, %v", notes, err)
	}
	if got, err := c.GetNote(ctx, ann.ID, note.ID); err != nil || got.Title != "Schedule" {
		t.Fatalf("get note = %+v, %v", got, err)
	}
	if got, err := c.UpdateNote(ctx, ann.ID, note.ID, ghl.NoteUpdate{Body: new("Prefers evenings")}); err != nil || got.Body != "Prefers evenings" {
		t.Fatalf("update note = %+v, %v", got, err)
	}
	if err := c.DeleteNote(ctx, ann.ID, note.ID); err != nil {
		t.Fatal(err)
	}

	// Appointments and custom fields.
	start := time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)
	if _, err := e.sim.CreateAppointment(ann.ID, ghlsim.Appointment{Title: "Intro class", CalendarID: "cal-1", StartTime: start, EndTime: start.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	appts, err := c.ListAppointments(ctx, ann.ID)
	if err != nil || len(appts) != 1 || appts[0].Title != "Intro class" || !appts[0].StartTime.Equal(start) {
		t.Fatalf("appointments = %+v, %v", appts, err)
	}
	fields, err := c.ListCustomFields(ctx, "contact")
	if err != nil || len(fields) != 2 || fields[0].FieldKey != "contact.member_level" {
		t.Fatalf("custom fields = %+v, %v", fields, err)
	}

	// Error answers, also validated against the specs.
	_, err = c.CreateContact(ctx, ghl.ContactInput{Email: new("not-an-email")})
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnprocessableEntity || !errors.Is(err, ghl.ErrValidation) || apiErr.Message != "email must be an email" {
		t.Fatalf("invalid e-mail: %v", err)
	}
	if _, err := c.CreateNote(ctx, "missing-contact", ghl.NewNote{Body: "x"}); !errors.Is(err, ghl.ErrNotFound) {
		t.Fatalf("note on missing contact: %v", err)
	}
	bad := e.client(t, ghl.StaticToken("pit-wrong"), nil)
	if _, err := bad.GetContact(ctx, ann.ID); !errors.Is(err, ghl.ErrUnauthorized) || ghl.Retryable(err) || strings.Contains(err.Error(), "pit-wrong") {
		t.Fatalf("bad token: %v", err)
	}
	e.sim.SetFaults(ghlsim.Faults{Force5xx: 1, Status5xx: http.StatusBadGateway})
	if _, err := c.GetContact(ctx, ann.ID); !errors.Is(err, ghl.ErrServer) || !ghl.Retryable(err) {
		t.Fatalf("forced 502: %v", err)
	}

	if err := c.DeleteContact(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteContact(ctx, bob.ID); !errors.Is(err, ghl.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}

	// OAuth: install and one refresh through the same validating transport.
	app := e.app()
	g := e.install(t, app)
	if _, err := app.Refresh(ctx, g.RefreshToken); err != nil {
		t.Fatalf("refresh: %v", err)
	}

	// Last, because the budget then holds this location's requests for the rest of the window.
	e.sim.SetFaults(ghlsim.Faults{Force429: 1})
	if _, err := c.GetContact(ctx, ann.ID); !errors.Is(err, ghl.ErrRateLimited) {
		t.Fatalf("forced 429: %v", err)
	}

	e.assertContract(t)
	seen := e.rec.Seen()
	for _, op := range clientOperations {
		if len(seen[op]) == 0 {
			t.Errorf("operation %s was not exercised", op)
		}
	}
	for _, u := range e.rec.Unmatched() {
		if !strings.Contains(u, "/oauth/chooselocation") {
			t.Errorf("request outside HighLevel's specs: %s", u)
		}
	}
	t.Logf("operations and statuses:\n%s", e.rec.Summary())
	if got, want := c.Calls(), e.sim.Stats().Requests-bad.Calls()-elsewhere.Calls(); got != want {
		t.Errorf("client counted %d calls, simulator saw %d", got, want)
	}
}

// TestSimulatorOperationsCovered keeps the client and the simulator in step: every operation
// the simulator implements is one the client exposes.
func TestSimulatorOperationsCovered(t *testing.T) {
	for _, op := range ghlsim.Operations() {
		if !slices.Contains(clientOperations, op) {
			t.Errorf("simulator implements %s, which the client does not expose", op)
		}
	}
	if got, want := len(ghlsim.Operations()), len(clientOperations)-1; got != want { // -1: the token endpoint
		t.Errorf("simulator implements %d API operations, client exposes %d", got, want)
	}
}

// TestNotFoundAsBadRequest: some HighLevel endpoints answer a missing record with 400
// "... not found"; the client still reports ErrNotFound.
func TestNotFoundAsBadRequest(t *testing.T) {
	e := newEnv(t, ghlsim.Options{NotFoundStatus: http.StatusBadRequest})
	c := e.client(t, ghl.StaticToken(pit), nil)
	_, err := c.GetContact(ctxT(t), "gone")
	var apiErr *ghl.APIError
	if !errors.Is(err, ghl.ErrNotFound) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("err = %v", err)
	}
	e.assertContract(t)
}
