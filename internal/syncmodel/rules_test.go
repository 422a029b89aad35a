package syncmodel

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func exampleMapping(t *testing.T) *Mapping {
	t.Helper()
	doc, err := os.ReadFile("testdata/mapping.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return mustMapping(t, string(doc))
}

var ignoreKeys = cmpopts.IgnoreFields(Action{}, "Key", "TaskMarker", "LegacyKeys")

func TestExampleRuleLabelBySource(t *testing.T) {
	m := exampleMapping(t)
	ev := Event{Kind: EventContact, Side: SideGHL, ContactID: "g1"}
	got, err := m.EvaluateRules(ev, Person{Source: " Facebook Ads "}, "link1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Action{{Type: ActionAddRZLabel, Rule: "label-by-source", Trigger: "contact:ghl:g1", Label: "src-facebook-ads"}}
	if diff := cmp.Diff(want, got, ignoreKeys); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// No source, or a Referrizer-side event: nothing.
	for _, c := range []struct {
		ev Event
		p  Person
	}{{ev, Person{}}, {Event{Kind: EventContact, Side: SideRZ, ContactID: "r1"}, Person{Source: "web"}}} {
		if got, err := m.EvaluateRules(c.ev, c.p, "link1"); err != nil || len(got) != 0 {
			t.Errorf("EvaluateRules(%+v) = %+v, %v; want nothing", c.ev, got, err)
		}
	}
	// A different source is a different label, so a different key: it is not suppressed.
	other, _ := m.EvaluateRules(ev, Person{Source: "Google"}, "link1", got[0].Key)
	if len(other) != 1 || other[0].Label != "src-google" {
		t.Errorf("new source = %+v", other)
	}
	// The same one is.
	if again, _ := m.EvaluateRules(ev, Person{Source: "facebook ads"}, "link1", got[0].Key); len(again) != 0 {
		t.Errorf("done key not honoured: %+v", again)
	}
}

func TestExampleRuleFollowUpNewLead(t *testing.T) {
	m := exampleMapping(t)
	ev := Event{Kind: EventContact, Side: SideRZ, ContactID: "r1", New: true}
	ann := Person{FirstName: "Ann", LastName: "Lee"}
	got, err := m.EvaluateRules(ev, ann, "link1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Action{{Type: ActionCreateTask, Rule: "follow-up-new-lead", Trigger: "contact:rz:r1",
		Title: "Follow up with new Referrizer lead", Body: "New lead from Referrizer: Ann Lee", Due: 24 * time.Hour}}
	if diff := cmp.Diff(want, got, ignoreKeys); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	a := got[0]
	if !regexp.MustCompile(`^follow-up-new-lead:[0-9a-f]{12}$`).MatchString(a.Key) || a.TaskMarker != "[hlrz:"+a.Key+"]" {
		t.Errorf("key %q marker %q", a.Key, a.TaskMarker)
	}
	// Same input, same key; another link, another key. The key is the person's (the link),
	// not the contact's: the same link from another contact or side keeps it.
	again, _ := m.EvaluateRules(ev, ann, "link1")
	otherLink, _ := m.EvaluateRules(ev, ann, "link2")
	otherContact, _ := m.EvaluateRules(Event{Kind: EventContact, Side: SideRZ, ContactID: "r2", New: true}, ann, "link1")
	if again[0].Key != a.Key || otherLink[0].Key == a.Key || otherContact[0].Key != a.Key {
		t.Errorf("keys: same %s/%s, other link %s, other contact %s", a.Key, again[0].Key, otherLink[0].Key, otherContact[0].Key)
	}
	// Once the task exists (its body carries the marker), evaluating again creates nothing,
	// even with a changed name (the key does not depend on the title or body).
	ev.Tasks = []Task{{ID: "t1", Title: "Follow up", Body: "New lead\n\n" + a.TaskMarker, Completed: true}}
	if got, err := m.EvaluateRules(ev, Person{FirstName: "Annie"}, "link1"); err != nil || len(got) != 0 {
		t.Errorf("second evaluation = %+v, %v; want nothing", got, err)
	}
	// Not new: nothing.
	if got, _ := m.EvaluateRules(Event{Kind: EventContact, Side: SideRZ, ContactID: "r1"}, ann, "link1"); len(got) != 0 {
		t.Errorf("not new = %+v", got)
	}
}

func TestExampleRuleReferralNote(t *testing.T) {
	m := exampleMapping(t)
	ev := Event{Kind: EventNotes, Notes: []Note{
		{ID: "n2", Body: "nothing here", DateAdded: day(2)},
		{ID: "n1", Body: "<p>Asked about our <b>REFERRAL</b> program</p>", DateAdded: day(1)},
		{ID: "n3", Body: "refer<i>ral</i> again", DateAdded: day(3)},
	}}
	got, err := m.EvaluateRules(ev, Person{}, "link1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Action{
		{Type: ActionAddRZLabel, Rule: "referral-note-campaign", Trigger: "note:n1", Label: "referral-campaign"},
		{Type: ActionAddRZLabel, Rule: "referral-note-campaign", Trigger: "note:n3", Label: "referral-campaign"},
	}
	if diff := cmp.Diff(want, got, ignoreKeys); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got[0].Key == got[1].Key {
		t.Error("each note is its own trigger")
	}
	// Contact events do not run notes rules, and executed keys are not repeated.
	if got, _ := m.EvaluateRules(Event{Kind: EventContact, Side: SideGHL}, Person{}, "link1"); len(got) != 0 {
		t.Errorf("contact event ran notes rules: %+v", got)
	}
	rest, _ := m.EvaluateRules(ev, Person{}, "link1", got[0].Key)
	if len(rest) != 1 || rest[0].Trigger != "note:n3" {
		t.Errorf("with n1 done = %+v", rest)
	}
}

func TestRuleActions(t *testing.T) {
	m := mustMapping(t, `
rules:
  - id: creator
    on: contact
    when: event.side == "rz" && event.new
    actions:
      - {type: create_ghl_task, title_expr: '"Call " + person.firstName', due_in_days: 0}
  - id: closer
    on: contact
    when: '"member" in person.tags'
    actions:
      - {type: complete_ghl_task, created_by: creator}
      - {type: complete_ghl_task, title_expr: '"Welcome " + "pack"'}
      - {type: remove_rz_label, label: prospect}
      - {type: add_ghl_tag, label: Member}
      - {type: remove_ghl_tag, label_expr: '"lead"'}
  - id: visit
    on: appointments
    when: appointment.status == "showed"
    actions:
      - {type: record_rz_visit, points: 10}
  - id: overdue-tag
    on: tasks
    when: '!task.completed && task.title.startsWith("Call")'
    actions:
      - {type: add_rz_label, label: needs-call}
`)
	created, err := m.EvaluateRules(Event{Kind: EventContact, Side: SideRZ, ContactID: "r1", New: true}, Person{FirstName: "Ann"}, "L")
	if err != nil || len(created) != 1 {
		t.Fatalf("creator = %+v, %v", created, err)
	}
	if created[0].Due != 0 || created[0].Title != "Call Ann" || created[0].Body != "" {
		t.Errorf("created = %+v", created[0])
	}
	marker := created[0].TaskMarker
	tasks := []Task{
		{ID: "t3", Title: "Call Ann", Body: "x " + marker},
		{ID: "t1", Title: "Other", Body: "no marker"},
		{ID: "t2", Title: "welcome pack "},
		{ID: "t4", Title: "Call Ann (old)", Body: marker, Completed: true},
	}
	got, err := m.EvaluateRules(Event{Kind: EventContact, Side: SideGHL, ContactID: "g1", Tasks: tasks}, Person{Tags: []string{"Member"}}, "L")
	if err != nil {
		t.Fatal(err)
	}
	trig := "contact:ghl:g1"
	want := []Action{
		{Type: ActionCompleteTask, Rule: "closer", Trigger: trig, TaskID: "t3", Title: "Call Ann", TaskMarker: "[hlrz:creator:"},
		{Type: ActionCompleteTask, Rule: "closer", Trigger: trig, TaskID: "t2", Title: "welcome pack "},
		{Type: ActionRemoveRZLabel, Rule: "closer", Trigger: trig, Label: "prospect"},
		{Type: ActionAddGHLTag, Rule: "closer", Trigger: trig, Label: "Member"},
		{Type: ActionRemoveGHLTag, Rule: "closer", Trigger: trig, Label: "lead"},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Action{}, "Key", "LegacyKeys")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Once the tasks are completed there is nothing left to complete.
	for i := range tasks {
		tasks[i].Completed = true
	}
	got, _ = m.EvaluateRules(Event{Kind: EventContact, Side: SideGHL, ContactID: "g1", Tasks: tasks}, Person{Tags: []string{"member"}}, "L")
	if len(got) != 3 {
		t.Errorf("after completion = %+v", got)
	}

	start := day(4).Add(9 * time.Hour)
	visits, err := m.EvaluateRules(Event{Kind: EventAppointments, Appointments: []Appointment{
		{ID: "a2", Status: "noshow", StartTime: day(3)},
		{ID: "a1", Status: "showed", StartTime: start},
	}}, Person{}, "L")
	wantVisits := []Action{{Type: ActionVisit, Rule: "visit", Trigger: "appointment:a1", VisitDate: start, Points: 10}}
	if diff := cmp.Diff(wantVisits, visits, ignoreKeys); diff != "" || err != nil {
		t.Errorf("visits (-want +got):\n%s\n%v", diff, err)
	}

	perTask, err := m.EvaluateRules(Event{Kind: EventTasks, Tasks: []Task{
		{ID: "b", Title: "Call Bob", DueDate: day(2)}, {ID: "a", Title: "Call Ann", DueDate: day(1)}, {ID: "c", Title: "Call Cy", Completed: true},
	}}, Person{}, "L")
	var triggers []string
	for _, a := range perTask {
		triggers = append(triggers, a.Trigger)
	}
	if diff := cmp.Diff([]string{"task:a", "task:b"}, triggers); diff != "" || err != nil {
		t.Errorf("tasks rule triggers (-want +got):\n%s\n%v", diff, err)
	}
}

func TestRuleRuntimeErrors(t *testing.T) {
	m := mustMapping(t, `
rules:
  - id: broken
    on: contact
    when: person.custom["tier"] == "gold"
    actions: [{type: add_rz_label, label: gold}]
  - id: empty-label
    on: contact
    actions: [{type: add_rz_label, label_expr: 'person.source'}]
  - id: fine
    on: contact
    when: 'true'
    actions: [{type: add_ghl_tag, label: ok}]
`)
	got, err := m.EvaluateRules(Event{Kind: EventContact, Side: SideGHL, ContactID: "g"}, Person{}, "L")
	if diff := cmp.Diff([]Action{{Type: ActionAddGHLTag, Rule: "fine", Trigger: "contact:ghl:g", Label: "ok"}}, got, ignoreKeys); diff != "" {
		t.Errorf("healthy rules must still act (-want +got):\n%s", diff)
	}
	want := "rule broken (contact:ghl:g): when: no such key: tier\n" +
		"rule empty-label (contact:ghl:g): action 0 (add_rz_label): label is empty"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
	// Optional access avoids the error.
	m2 := mustMapping(t, `rules: [{id: ok, on: contact, when: 'person.custom.?tier.orValue("") == "gold"', actions: [{type: add_rz_label, label: gold}]}]`)
	if got, err := m2.EvaluateRules(Event{Kind: EventContact}, Person{Custom: map[string]string{"tier": "gold"}}, "L"); err != nil || len(got) != 1 {
		t.Errorf("optional access = %+v, %v", got, err)
	}
}

func TestActionJSON(t *testing.T) {
	a := Action{Type: ActionCreateTask, Rule: "r", Key: "r:0123456789ab", Trigger: "contact:rz:1", Title: "T", Due: time.Hour, TaskMarker: TaskMarker("r:0123456789ab")}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"create_ghl_task","rule":"r","key":"r:0123456789ab","trigger":"contact:rz:1","title":"T","due":3600000000000,"taskMarker":"[hlrz:r:0123456789ab]"}`
	if string(b) != want {
		t.Errorf("JSON:\n%s\nwant\n%s", b, want)
	}
}

func TestRulesAccessor(t *testing.T) {
	rules := exampleMapping(t).Rules()
	if len(rules) != 3 || rules[0].When != `event.side == "ghl" && person.source != ""` ||
		rules[0].Actions[0].LabelExpr != `"src-" + slug(person.source)` || rules[1].Actions[0].DueInDays != 1 {
		t.Errorf("Rules() = %+v", rules)
	}
	rules[0].Actions[0].LabelExpr = "changed"
	if strings.Contains(exampleMapping(t).Rules()[0].Actions[0].LabelExpr, "changed") {
		t.Error("Rules() must return copies")
	}
}

// A contact rule acts once per person, whichever side the pass came from: a HighLevel-sourced
// and a Referrizer-sourced pass of the same linked person derive the same key (they used to
// derive one per side, so a create_ghl_task rule created two tasks). Actions done, or tasks
// created, under the old per-side keys count as done.
func TestContactActionsArePerPerson(t *testing.T) {
	m := mustMapping(t, `
rules:
  - id: welcome
    on: contact
    when: '"vip" in person.tags'
    actions:
      - {type: create_ghl_task, title: Welcome pack}
`)
	vip := Person{FirstName: "Ann", Tags: []string{"vip"}}
	fromGHL, err := m.EvaluateRules(Event{Kind: EventContact, Side: SideGHL, ContactID: "g1", OtherContactID: "r1"}, vip, "L")
	if err != nil || len(fromGHL) != 1 {
		t.Fatalf("from HighLevel = %+v, %v", fromGHL, err)
	}
	fromRZ, err := m.EvaluateRules(Event{Kind: EventContact, Side: SideRZ, ContactID: "r1", OtherContactID: "g1"}, vip, "L")
	if err != nil || len(fromRZ) != 1 {
		t.Fatalf("from Referrizer = %+v, %v", fromRZ, err)
	}
	if fromGHL[0].Key != fromRZ[0].Key || fromGHL[0].TaskMarker != fromRZ[0].TaskMarker {
		t.Errorf("keys differ by side: %s vs %s", fromGHL[0].Key, fromRZ[0].Key)
	}
	if again, _ := m.EvaluateRules(Event{Kind: EventContact, Side: SideRZ, ContactID: "r1", OtherContactID: "g1"}, vip, "L", fromGHL[0].Key); len(again) != 0 {
		t.Errorf("done from the HighLevel side, acted again from Referrizer: %+v", again)
	}
	// Before: keyed per side. A task made under the HighLevel side's old key, or the old key
	// recorded as done, means done.
	legacyGHL := actionKey("welcome", "L", "contact:ghl:g1", 0, "")
	if !slices.Contains(fromRZ[0].LegacyKeys, legacyGHL) {
		t.Fatalf("legacy keys %v lack the HighLevel side's %s", fromRZ[0].LegacyKeys, legacyGHL)
	}
	if again, _ := m.EvaluateRules(Event{Kind: EventContact, Side: SideRZ, ContactID: "r1", OtherContactID: "g1"}, vip, "L", legacyGHL); len(again) != 0 {
		t.Errorf("done under the legacy key, acted again: %+v", again)
	}
	tasks := []Task{{ID: "t1", Title: "Welcome pack", Body: "pack\n\n" + TaskMarker(legacyGHL)}}
	if again, _ := m.EvaluateRules(Event{Kind: EventContact, Side: SideRZ, ContactID: "r1", OtherContactID: "g1", Tasks: tasks}, vip, "L"); len(again) != 0 {
		t.Errorf("task carries the legacy marker, created again: %+v", again)
	}
	if !slices.Contains(fromRZ[0].Markers(), TaskMarker(legacyGHL)) {
		t.Errorf("markers %v lack the legacy one", fromRZ[0].Markers())
	}
}

// A contact rule fires once per occurrence: each time its condition becomes true after
// having been false on that side's passes (a tag removed and added again), not once per
// person forever and not on every pass while it holds.
func TestContactRuleOccurrences(t *testing.T) {
	m := mustMapping(t, `
rules:
  - id: welcome
    on: contact
    when: '"vip" in person.tags'
    actions:
      - {type: create_ghl_task, title: Welcome pack}
  - id: always
    on: contact
    actions:
      - {type: add_rz_label, label: synced}
`)
	ev := Event{Kind: EventContact, Side: SideGHL, ContactID: "g1", OtherContactID: "r1"}
	vip, plain := Person{Tags: []string{"vip"}}, Person{}
	var done []string
	states := map[string]ConditionState{}
	pass := func(p Person) []Action {
		t.Helper()
		states = m.ContactOccurrences(ev, p, states)
		e := ev
		e.Occurrences = OccurrenceNumbers(states)
		acts, err := m.EvaluateRules(e, p, "L", done...)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range acts {
			done = append(done, a.Key)
		}
		return acts
	}
	rulesOf := func(acts []Action) []string {
		var out []string
		for _, a := range acts {
			out = append(out, a.Rule)
		}
		return out
	}
	first := pass(vip)
	if got := rulesOf(first); !slices.Equal(got, []string{"welcome", "always"}) {
		t.Fatalf("first pass fired %v", got)
	}
	// The first occurrence keeps the key contact rules had (markers stored before count).
	if first[0].Key != actionKey("welcome", "L", "contact", 0, "") {
		t.Errorf("first occurrence key %s is not the per-person key", first[0].Key)
	}
	if got := rulesOf(pass(vip)); len(got) != 0 {
		t.Errorf("condition still true: fired %v again", got)
	}
	if got := rulesOf(pass(plain)); len(got) != 0 {
		t.Errorf("condition false: fired %v", got)
	}
	second := pass(vip)
	if got := rulesOf(second); !slices.Equal(got, []string{"welcome"}) {
		t.Fatalf("tag added again: fired %v, want the welcome rule once more", got)
	}
	if second[0].Key == first[0].Key || second[0].TaskMarker == first[0].TaskMarker || len(second[0].LegacyKeys) != 0 {
		t.Errorf("second occurrence keyed like the first: %+v", second[0])
	}
	if got := states["welcome"]; got != (ConditionState{Holds: true, Occurrences: 2}) {
		t.Errorf("state = %+v", got)
	}
	if got := states["always"]; got != (ConditionState{Holds: true, Occurrences: 1}) {
		t.Errorf("unconditional rule state = %+v", got)
	}
	// Replanning the same occurrence (a retried pass) yields the same key: done.
	e := ev
	e.Occurrences = OccurrenceNumbers(states)
	if again, _ := m.EvaluateRules(e, vip, "L", done...); len(again) != 0 {
		t.Errorf("same occurrence acted again: %+v", again)
	}
}

// An appointment rule whose condition reads the status fires once per appointment and
// status; one that does not, once per appointment. Keys made before (per appointment)
// count as done.
func TestAppointmentRuleOccurrences(t *testing.T) {
	m := mustMapping(t, `
rules:
  - id: by-status
    on: appointments
    when: appointment.status != "cancelled"
    actions:
      - {type: create_ghl_task, title_expr: '"Appointment " + appointment.status'}
  - id: per-appointment
    on: appointments
    when: appointment.title != ""
    actions:
      - {type: record_rz_visit}
`)
	ev := func(status string) Event {
		return Event{Kind: EventAppointments, Appointments: []Appointment{{ID: "a1", Title: "Intro", Status: status}}}
	}
	var done []string
	run := func(status string) []Action {
		t.Helper()
		acts, err := m.EvaluateRules(ev(status), Person{}, "L", done...)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range acts {
			done = append(done, a.Key)
		}
		return acts
	}
	if got := run("confirmed"); len(got) != 2 {
		t.Fatalf("confirmed: %+v", got)
	}
	if got := run("confirmed"); len(got) != 0 {
		t.Errorf("same status again: %+v", got)
	}
	got := run("showed")
	if len(got) != 1 || got[0].Rule != "by-status" || got[0].Title != "Appointment showed" {
		t.Errorf("showed: %+v, want only the status rule", got)
	}
	// Done before the status was part of the key: done for every status.
	legacy := actionKey("by-status", "L", "appointment:a1", 0, "")
	if again, _ := m.EvaluateRules(ev("noshow"), Person{}, "L", legacy); len(again) != 1 || again[0].Rule != "per-appointment" {
		t.Errorf("legacy key done: %+v", again)
	}
}
