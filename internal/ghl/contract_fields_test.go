package ghl_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

// allSet fails the test unless every exported field of v (a struct) is set, except those
// named in except: a request type that gains a field must have it exercised here.
func allSet(t *testing.T, v any, except ...string) {
	t.Helper()
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		if !f.IsExported() || slices.Contains(except, f.Name) {
			continue
		}
		if rv.Field(i).IsZero() {
			t.Errorf("%s.%s is not set: the test would not check it against HighLevel's schema", rv.Type().Name(), f.Name)
		}
	}
}

// TestContractEveryRequestField sends every field of every request type through the client to
// the simulator, each request validated against HighLevel's closed request schemas: no field
// the client can send is one the official DTO lacks.
func TestContractEveryRequestField(t *testing.T) {
	e := newEnv(t, ghlsim.Options{})
	ctx := ctxT(t)
	c := e.client(t, ghl.StaticToken(pit), nil)
	field, err := e.sim.AddCustomField(ghlsim.CustomField{LocationID: loc, Name: "Member Level"})
	if err != nil {
		t.Fatal(err)
	}

	dnd := ghl.DNDSetting{Status: "inactive", Message: "asked", Code: "101"}
	full := func(email string) ghl.ContactInput {
		return ghl.ContactInput{
			FirstName: new("Ann"), LastName: new("Lee"), Name: new("Ann Lee"), Email: new(email), Phone: new("+15550102030"),
			CompanyName: new("Lee Gym"), Address1: new("1 Main St"), City: new("Austin"), State: new("TX"), PostalCode: new("78701"),
			Country: new("US"), Website: new("https://lee.example"), Timezone: new("America/Chicago"), Source: new("hlrz"),
			AssignedTo: new("user-1"), DateOfBirth: new("1990-09-25"), DND: new(false),
			DNDSettings:  map[string]ghl.DNDSetting{"Call": dnd, "Email": dnd, "SMS": dnd, "WhatsApp": dnd, "GMB": dnd, "FB": dnd},
			Tags:         []string{"vip"},
			CustomFields: []ghl.CustomFieldInput{{ID: field.ID, Key: field.FieldKey, Value: "gold"}},
		}
	}
	in := full("ann@example.com")
	allSet(t, in)
	allSet(t, in.CustomFields[0])
	allSet(t, dnd)
	ann, err := c.CreateContact(ctx, in)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	up := full("bob@example.com")
	up.Phone = new("+15550102031")
	if _, _, err := c.UpsertContact(ctx, up); err != nil {
		t.Fatalf("upsert: %v", err)
	}
	upd := full("ann.lee@example.com")
	upd.Phone, upd.CompanyName = new("+15550102032"), nil
	allSet(t, upd, "CompanyName") // UpdateContactDto has no companyName
	if _, err := c.UpdateContact(ctx, ann.ID, upd); err != nil {
		t.Fatalf("update: %v", err)
	}

	due := time.Date(2030, 1, 2, 15, 0, 0, 0, time.UTC)
	nt := ghl.NewTask{Title: "Call", Body: "about renewal", DueDate: due, Completed: true, AssignedTo: "user-1"}
	allSet(t, nt)
	task, err := c.CreateTask(ctx, ann.ID, nt)
	if err != nil {
		t.Fatalf("create task: %v", err)
	}
	later := due.Add(time.Hour)
	tu := ghl.TaskUpdate{Title: new("Call back"), Body: new("today"), DueDate: &later, Completed: new(false), AssignedTo: new("user-2")}
	allSet(t, tu)
	if _, err := c.UpdateTask(ctx, ann.ID, task.ID, tu); err != nil {
		t.Fatalf("update task: %v", err)
	}

	nn := ghl.NewNote{Body: "Prefers mornings", UserID: "user-1", Title: "Schedule", Color: "#ffcc00", Pinned: new(true)}
	allSet(t, nn)
	note, err := c.CreateNote(ctx, ann.ID, nn)
	if err != nil {
		t.Fatalf("create note: %v", err)
	}
	nu := ghl.NoteUpdate{Body: new("Prefers evenings"), UserID: new("user-2"), Title: new("Hours"), Color: new("#00ccff"), Pinned: new(false)}
	allSet(t, nu)
	if _, err := c.UpdateNote(ctx, ann.ID, note.ID, nu); err != nil {
		t.Fatalf("update note: %v", err)
	}

	first, err := c.SearchContacts(ctx, ghl.SearchParams{PageLimit: 1, Sort: []ghl.SearchSort{{Field: "dateAdded", Direction: "asc"}}})
	if err != nil || first.Next == nil {
		t.Fatalf("search for a cursor: %+v, %v", first, err)
	}
	sp := ghl.SearchParams{PageLimit: 1, Query: "example", SearchAfter: first.Next,
		Filters: []ghl.SearchFilter{{Field: "email", Operator: "eq", Value: "bob@example.com"}},
		Sort:    []ghl.SearchSort{{Field: "dateAdded", Direction: "asc"}}}
	allSet(t, sp)
	allSet(t, sp.Filters[0])
	allSet(t, sp.Sort[0])
	if _, err := c.SearchContacts(ctx, sp); err != nil {
		t.Fatalf("search: %v", err)
	}

	done := true
	ts := ghl.TaskSearchParams{ContactIDs: []string{ann.ID}, Completed: &done, AssignedTo: []string{"user-2"}, Query: "call",
		Limit: 10, Skip: 1, BusinessID: "biz-1"}
	allSet(t, ts)
	if _, err := c.SearchTasks(ctx, ts); err != nil {
		t.Fatalf("task search: %v", err)
	}

	lp := ghl.ListContactsParams{Limit: 1, Query: "example", After: &ghl.ListCursor{StartAfter: 1, StartAfterID: ann.ID}}
	allSet(t, lp)
	if _, err := c.ListContacts(ctx, lp); err != nil {
		t.Fatalf("list: %v", err)
	}
	bp := ghl.BusinessParams{Limit: 1, Skip: 1, Query: "example"}
	allSet(t, bp)
	if _, err := c.ContactsByBusiness(ctx, "biz-1", bp); err != nil {
		t.Fatalf("by business: %v", err)
	}

	e.assertContract(t)
	if n := len(e.rec.Seen()); n < 11 {
		t.Errorf("validated %d operations, want 11:\n%s", n, e.rec.Summary())
	}
}
