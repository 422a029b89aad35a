package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/workflows"
)

// personRulesMapping has a rule on notes and one on tasks whose conditions and labels read
// the person.
const personRulesMapping = `version: 1
rules:
  - id: vip-note
    on: notes
    when: note.body.lowerAscii().contains("vip") && person.firstName != ""
    actions:
      - type: add_rz_label
        label_expr: '"vip-" + slug(person.firstName)'
  - id: tagged-task
    on: tasks
    when: '!task.completed && "gold" in person.tags'
    actions:
      - type: add_ghl_tag
        label_expr: '"task-for-" + slug(person.lastName)'
`

// Rules on notes and tasks see the person (fields and tags as last synced), not an empty one.
func TestRulesOnNotesAndTasksSeeThePerson(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(personRulesMapping)})
	c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Ivy", LastName: "Stone", Email: "ivy@example.com", Tags: []string{"gold"}})
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "Ivy in Referrizer", func() (bool, string) {
		r, ok := rzByEmail(e, "ivy@example.com")
		return ok && slices.Contains(r.Labels, "gold"), fmt.Sprintf("%v %v", ok, r.Labels)
	})
	waitIdle(t, e)
	if _, err := e.GHL.CreateNote(c.ID, ghlsim.Note{Body: "VIP member since 2019"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GHL.CreateTask(c.ID, ghlsim.Task{Title: "Renewal call", DueDate: time.Now().Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "the note rule's label in Referrizer and the task rule's tag in HighLevel", func() (bool, string) {
		r, _ := rzByEmail(e, "ivy@example.com")
		g, _ := ghlByEmail(e, "ivy@example.com")
		return slices.Contains(r.Labels, "vip-ivy") && slices.Contains(g.Tags, "task-for-stone"),
			fmt.Sprintf("Referrizer labels %v, HighLevel tags %v; last plan: %s", r.Labels, g.Tags, lastPlan(t, e, c.ID))
	})
	waitIdle(t, e)
}

// appointmentLabelRulesMapping records a visit and labels the person when an appointment is
// marked showed.
const appointmentLabelRulesMapping = `version: 1
rules:
  - id: showed-visit
    on: appointments
    when: appointment.status == "showed" && person.firstName != ""
    actions:
      - type: record_rz_visit
        points: 10
      - type: add_rz_label
        label_expr: '"attended-" + slug(appointment.title)'
`

// Rules on appointments run: an appointment webhook triggers them with the person set, once
// per appointment (a second event about the same appointment records no second visit).
func TestRulesOnAppointments(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(appointmentLabelRulesMapping)})
	c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Ada", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "Ada in Referrizer", func() (bool, string) {
		_, ok := rzByEmail(e, "ada@example.com")
		return ok, ""
	})
	waitIdle(t, e)
	a, err := e.GHL.CreateAppointment(c.ID, ghlsim.Appointment{Title: "Intro class", Status: "confirmed", StartTime: time.Now().Add(-time.Hour), EndTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	if v := e.RZ.Visits(e.RZToken); len(v) != 0 {
		t.Fatalf("a confirmed appointment recorded visits %v", v)
	}
	if _, err := e.GHL.UpdateAppointment(a.ID, ghlsim.Appointment{Status: "showed"}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "the visit and the label in Referrizer", func() (bool, string) {
		r, _ := rzByEmail(e, "ada@example.com")
		v := e.RZ.Visits(e.RZToken)
		return len(v) == 1 && slices.Contains(r.Labels, "attended-intro-class"), fmt.Sprintf("visits %v, labels %v; last plan: %s", v, r.Labels, lastPlan(t, e, c.ID))
	})
	waitIdle(t, e)
	// Another event about the same appointment: no second visit.
	if _, err := e.GHL.UpdateAppointment(a.ID, ghlsim.Appointment{Title: "Intro class"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GHL.UpdateContact(c.ID, ghlsim.ContactPatch{LastName: new("Byron")}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	if v := e.RZ.Visits(e.RZToken); len(v) != 1 {
		t.Errorf("after more events about the same appointment: %d visits, want 1: %v", len(v), v)
	}
}

// brokenRuleMapping has a note rule that fails at run time (a custom value the person does
// not have).
const brokenRuleMapping = `version: 1
rules:
  - id: broken-note-rule
    on: notes
    when: person.custom["membership"] == "gold"
    actions:
      - type: add_rz_label
        label: gold-note
`

// A rule that fails to evaluate is a dead letter (once while it is open), not only a log
// line, and the rest of the pass still happens.
func TestRuleFailureIsADeadLetter(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(brokenRuleMapping)})
	c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Bo", Email: "bo@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "Bo in Referrizer", func() (bool, string) {
		_, ok := rzByEmail(e, "bo@example.com")
		return ok, ""
	})
	waitIdle(t, e)
	for _, body := range []string{"first note", "second note"} {
		if _, err := e.GHL.CreateNote(c.ID, ghlsim.Note{Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	e.Eventually(60*time.Second, "the notes in Referrizer", func() (bool, string) {
		r, _ := rzByEmail(e, "bo@example.com")
		notes, _ := customText(r, "GHL Notes")
		return strings.Contains(notes, "second note"), notes
	})
	waitIdle(t, e)
	dls, err := e.Store.ListDeadLetters(context.Background(), e.Conn.ID, store.DeadOpen, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dls {
		if d.Kind == "Rules.notes" && strings.Contains(d.Error, "broken-note-rule") {
			n++
		} else {
			t.Errorf("unexpected dead letter %s: %s", d.Kind, d.Error)
		}
	}
	if n != 1 {
		t.Errorf("%d open dead letters for the failing rule, want 1", n)
	}
}

// welcomeRuleMapping creates a HighLevel task for a "vip" person.
const welcomeRuleMapping = `version: 1
rules:
  - id: welcome
    on: contact
    when: '"vip" in person.tags'
    actions:
      - {type: create_ghl_task, title: Welcome pack, body: Send the welcome pack, due_in_days: 3}
`

// A contact rule fires on a backfill's first pass of a person only Referrizer has: the
// pass creates them in HighLevel, and the rule sees them as Referrizer has them (the create
// records the tags base and its echo is dropped, so no later pass would see them new).
func TestContactRuleOnReferrizerOnlyBackfill(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(welcomeRuleMapping)})
	ctx := context.Background()
	if _, err := e.RZ.AdminCreateContact(e.RZToken, rzsim.Contact{FirstName: "Rae", LastName: "Moss", Email: "rae@example.com", Labels: []string{"vip"}}); err != nil {
		t.Fatal(err)
	}
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: domain.BackfillWorkflowID(e.Conn.ID), TaskQueue: e.App.Config.TaskQueue},
		workflows.Backfill, domain.BackfillInput{ConnectionID: e.Conn.ID})
	if err != nil {
		t.Fatal(err)
	}
	var progress domain.BackfillProgress
	if err := run.Get(ctx, &progress); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	waitIdle(t, e)
	g, ok := ghlByEmail(e, "rae@example.com")
	if !ok {
		t.Fatalf("Rae not created in HighLevel; backfill %+v", progress)
	}
	var titles []string
	for _, tk := range e.GHL.Snapshot().Tasks {
		if tk.ContactID == g.ID {
			titles = append(titles, tk.Title)
		}
	}
	if !slices.Equal(titles, []string{"Welcome pack"}) {
		t.Errorf("Rae's HighLevel tasks = %v, want [Welcome pack]; last plan: %s", titles, lastPlan(t, e, g.ID))
	}
}

// A retried apply of a first pass whose HighLevel create landed does not write the create's
// values again as an update: a HighLevel edit made between the attempts survives and reaches
// Referrizer (found by the fault suite: a retried create overwrote a last-name edit).
func TestRetriedCreateKeepsAnEditMadeMeanwhile(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(welcomeRuleMapping)})
	ctx := context.Background()
	// The welcome task's create lands but its answer is lost: the apply that created the
	// HighLevel contact fails after the create and is retried a second later.
	e.GHL.SetFaults(ghlsim.Faults{LoseAnswerOf: map[string]int{"create-task": 1}})
	if _, err := e.RZ.AdminCreateContact(e.RZToken, rzsim.Contact{FirstName: "Uma", LastName: "Old", Email: "uma@example.com", Labels: []string{"vip"}}); err != nil {
		t.Fatal(err)
	}
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: domain.BackfillWorkflowID(e.Conn.ID), TaskQueue: e.App.Config.TaskQueue},
		workflows.Backfill, domain.BackfillInput{ConnectionID: e.Conn.ID})
	if err != nil {
		t.Fatal(err)
	}
	var g ghlsim.Contact
	e.Eventually(30*time.Second, "Uma created in HighLevel", func() (bool, string) {
		var ok bool
		g, ok = ghlByEmail(e, "uma@example.com")
		return ok, ""
	})
	edited := "Edited"
	if _, err := e.GHL.UpdateContact(g.ID, ghlsim.ContactPatch{LastName: &edited}); err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	if left := e.GHL.Faults().LoseAnswerOf["create-task"]; left != 0 {
		t.Fatalf("the lost answer did not happen (%d left)", left)
	}
	e.Eventually(60*time.Second, "the edit on both sides", func() (bool, string) {
		g, _ := ghlByEmail(e, "uma@example.com")
		r, _ := rzByEmail(e, "uma@example.com")
		return g.LastName == edited && r.LastName == edited, fmt.Sprintf("HighLevel %q, Referrizer %q", g.LastName, r.LastName)
	})
	waitIdle(t, e)
}
