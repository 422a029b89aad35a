package ghlsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

// lostAnswer sends a write and reports how its answer was lost: "502", "dropped", or the
// status it got when it was not lost.
func (f *fixture) lostAnswer(t *testing.T, method, path string, body any) string {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Version", "2021-07-28")
	req.Header.Set("Authorization", "Bearer "+pit)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "dropped"
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return http.StatusText(resp.StatusCode)
}

// TestAppliedThenFailed: with appliedThenFailRate 1 every write type is committed and its
// answer lost, half as a 502 and half as a dropped connection; reads are untouched.
func TestAppliedThenFailed(t *testing.T) {
	f := newFixture(t, ghlsim.Options{Seed: 7})
	field, err := f.sim.AddCustomField(ghlsim.CustomField{LocationID: loc, Name: "Member Level"})
	if err != nil {
		t.Fatal(err)
	}
	if st := f.admin(t, "/admin/faults", `{"appliedThenFailRate":1}`); st != http.StatusOK {
		t.Fatalf("POST /admin/faults: %d", st)
	}
	if got := f.sim.Faults().AppliedThenFailRate; got != 1 {
		t.Fatalf("appliedThenFailRate = %v after POST /admin/faults", got)
	}
	outcomes := map[string]int{}
	lose := func(method, path string, body any) {
		t.Helper()
		o := f.lostAnswer(t, method, path, body)
		if o != "dropped" && o != http.StatusText(http.StatusBadGateway) {
			t.Errorf("%s %s answered %s, want 502 or a dropped connection", method, path, o)
		}
		outcomes[o]++
	}

	// Create: the contact exists although the client never learnt its id.
	lose("POST", "/contacts/", map[string]any{"locationId": loc, "firstName": "Ann", "email": "ann@example.com"})
	snap := f.sim.Snapshot()
	if len(snap.Contacts) != 1 || snap.Contacts[0].Email != "ann@example.com" {
		t.Fatalf("contact not committed: %+v", snap.Contacts)
	}
	id := snap.Contacts[0].ID
	// Reads are not faulted.
	if st, _, _ := f.call(t, "GET", "/contacts/"+id, pit, nil); st != http.StatusOK {
		t.Fatalf("GET contact under appliedThenFailRate: %d", st)
	}
	lose("PUT", "/contacts/"+id, map[string]any{"lastName": "Lee"})
	lose("PUT", "/contacts/"+id, map[string]any{"customFields": []map[string]any{{"id": field.ID, "field_value": "gold"}}})
	lose("POST", "/contacts/"+id+"/tags", map[string]any{"tags": []string{"vip", "x"}})
	lose("DELETE", "/contacts/"+id+"/tags", map[string]any{"tags": []string{"x"}})
	lose("POST", "/contacts/"+id+"/notes", map[string]any{"body": "first note"})
	lose("POST", "/contacts/"+id+"/tasks", map[string]any{"title": "Call", "dueDate": "2030-01-02T15:00:00Z", "completed": false})
	snap = f.sim.Snapshot()
	if len(snap.Tasks) != 1 || len(snap.Notes) != 1 {
		t.Fatalf("task/note not committed: %d tasks, %d notes", len(snap.Tasks), len(snap.Notes))
	}
	task := snap.Tasks[0].ID
	lose("PUT", "/contacts/"+id+"/tasks/"+task, map[string]any{"title": "Call back"})
	lose("PUT", "/contacts/"+id+"/tasks/"+task+"/completed", map[string]any{"completed": true})
	lose("POST", "/contacts/upsert", map[string]any{"locationId": loc, "email": "bob@example.com", "firstName": "Bob"})

	c, _ := f.sim.Contact(id)
	if c.LastName != "Lee" || strings.Join(c.Tags, ",") != "vip" || len(c.CustomFields) != 1 {
		t.Errorf("writes not committed: lastName %q tags %v customFields %+v", c.LastName, c.Tags, c.CustomFields)
	}
	snap = f.sim.Snapshot()
	if tk := snap.Tasks[0]; tk.Title != "Call back" || !tk.Completed {
		t.Errorf("task writes not committed: %+v", tk)
	}
	if len(snap.Contacts) != 2 {
		t.Errorf("upsert not committed: %d contacts", len(snap.Contacts))
	}

	st := f.sim.Stats()
	const writes = 10
	if st.AppliedThenFailed != writes || st.AppliedThen5xx+st.AppliedThenDropped != writes {
		t.Errorf("stats: appliedThenFailed %d (5xx %d, dropped %d), want %d", st.AppliedThenFailed, st.AppliedThen5xx, st.AppliedThenDropped, writes)
	}
	if st.AppliedThen5xx == 0 || st.AppliedThenDropped == 0 || int64(outcomes["dropped"]) != st.AppliedThenDropped {
		t.Errorf("want both 502s and dropped connections: outcomes %v, stats 5xx %d dropped %d", outcomes, st.AppliedThen5xx, st.AppliedThenDropped)
	}

	// A write that fails on its own (unknown contact) is not "applied": it keeps its answer.
	if o := f.lostAnswer(t, "PUT", "/contacts/nobody00000000000000", map[string]any{"lastName": "X"}); o == "dropped" || o == http.StatusText(http.StatusBadGateway) {
		t.Errorf("a refused write lost its answer: %s", o)
	}
	if got := f.sim.Stats().AppliedThenFailed; got != writes {
		t.Errorf("a refused write was counted: %d", got)
	}

	// Off again: answers come back.
	f.sim.SetFaults(ghlsim.Faults{})
	if o := f.lostAnswer(t, "POST", "/contacts/"+id+"/notes", map[string]any{"body": "second"}); o != http.StatusText(http.StatusCreated) && o != http.StatusText(http.StatusOK) {
		t.Errorf("write after faults off: %s", o)
	}
}

// TestLoseAnswerOf: a targeted lost answer hits exactly the next successful write of the
// named operation, once; other writes keep their answers.
func TestLoseAnswerOf(t *testing.T) {
	f := newFixture(t, ghlsim.Options{Seed: 7})
	f.sim.SetFaults(ghlsim.Faults{LoseAnswerOf: map[string]int{"create-task": 1}})
	if o := f.lostAnswer(t, "POST", "/contacts/", map[string]any{"locationId": loc, "firstName": "Ann", "email": "ann@example.com"}); o != http.StatusText(http.StatusCreated) && o != http.StatusText(http.StatusOK) {
		t.Fatalf("create contact answered %s", o)
	}
	id := f.sim.Snapshot().Contacts[0].ID
	task := map[string]any{"title": "Call", "dueDate": "2030-01-02T15:00:00Z", "completed": false}
	if o := f.lostAnswer(t, "POST", "/contacts/"+id+"/tasks", task); o != http.StatusText(http.StatusBadGateway) {
		t.Errorf("first create-task answered %s, want 502", o)
	}
	if o := f.lostAnswer(t, "POST", "/contacts/"+id+"/tasks", task); o == http.StatusText(http.StatusBadGateway) || o == "dropped" {
		t.Errorf("second create-task answered %s, want its answer", o)
	}
	if n := len(f.sim.Snapshot().Tasks); n != 2 {
		t.Errorf("%d tasks committed, want 2", n)
	}
	if left := f.sim.Faults().LoseAnswerOf["create-task"]; left != 0 {
		t.Errorf("%d targeted losses left, want 0", left)
	}
}

// TestNotFoundOf: the next call of the named operation is answered 404 and not applied.
func TestNotFoundOf(t *testing.T) {
	f := newFixture(t, ghlsim.Options{Seed: 7})
	c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, FirstName: "Ann", Email: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := f.sim.CreateTask(c.ID, ghlsim.Task{Title: "Call", DueDate: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	f.sim.SetFaults(ghlsim.Faults{NotFoundOf: map[string]int{"update-task-completed": 1}})
	path := "/contacts/" + c.ID + "/tasks/" + tk.ID + "/completed"
	if o := f.lostAnswer(t, "PUT", path, map[string]any{"completed": true}); o != http.StatusText(http.StatusNotFound) {
		t.Errorf("first completion answered %s, want 404", o)
	}
	if got := f.sim.Snapshot().Tasks[0]; got.Completed {
		t.Error("a 404 answer applied the completion")
	}
	if o := f.lostAnswer(t, "PUT", path, map[string]any{"completed": true}); o != http.StatusText(http.StatusOK) {
		t.Errorf("second completion answered %s, want 200", o)
	}
}
