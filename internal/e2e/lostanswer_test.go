package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
)

// lostAnswerMapping has a rule for every object the sync creates: HighLevel tasks (from a
// Referrizer lead and from a HighLevel task), Referrizer visits and labels.
const lostAnswerMapping = `version: 1
phone_region: US
fields:
  firstName: {direction: both, conflict: ghl-wins}
  lastName:  {direction: both, conflict: ghl-wins}
  email:     {direction: both, conflict: ghl-wins}
  phone:     {direction: both, conflict: ghl-wins}
  tags:      {direction: both}
projections:
  notes: {field: GHL Notes, max_length: 2000}
  tasks: {field: GHL Tasks, max_length: 2000, keep_completed_for: 7d, open_label: ghl-task-open, overdue_label: ghl-task-overdue}
rules:
  - id: lead-task
    on: contact
    when: event.side == "rz" && event.new
    actions:
      - {type: create_ghl_task, title: Follow up with new lead, due_in_days: 1}
  - id: welcome
    on: contact
    when: event.side == "ghl" && event.new
    actions:
      - {type: record_rz_visit, points: 5}
      - {type: add_rz_label, label: welcomed}
  - id: referral
    on: notes
    when: note.body.lowerAscii().contains("referral")
    actions:
      - {type: add_rz_label, label: referral-campaign}
  - id: prep-call
    on: tasks
    when: '!task.completed && task.title.startsWith("Call")'
    actions:
      - {type: create_ghl_task, title: Prepare the call, due_in_days: 2}
`

// Every write the sync makes is committed by the simulators and then, half the time, its
// answer is lost (a 502 or a dropped connection), so every create is retried after it
// landed. Afterwards each person exists exactly once on each side, and the rules' tasks,
// visits and labels exist exactly as often as the inputs call for: never twice.
func TestLostAnswersMakeNoDuplicates(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(lostAnswerMapping)})
	ctx := context.Background()
	// Duplicates allowed: HighLevel's duplicate refusal is no safety net here.
	e.GHL.SetAllowDuplicates(e.LocationID, true)
	const rate = 0.5
	e.GHL.SetFaults(ghlsim.Faults{AppliedThenFailRate: rate})
	if err := e.RZ.SetFaults(rzsim.Faults{AppliedThenFailRate: rate}); err != nil {
		t.Fatal(err)
	}

	type person struct {
		name, email, phone string
		ghl                bool // created in HighLevel (else in Referrizer)
		referral, call     bool // a HighLevel note mentioning a referral; an open "Call" task
	}
	var people []person
	for i := range 12 {
		p := person{name: fmt.Sprintf("g%d", i), ghl: true, phone: fmt.Sprintf("+1555301%04d", i)}
		if i%3 != 0 { // every third one has a phone only
			p.email = p.name + "@example.com"
		}
		p.referral, p.call = i%4 == 1, i%4 == 2
		people = append(people, p)
	}
	for i := range 8 {
		p := person{name: fmt.Sprintf("r%d", i), phone: fmt.Sprintf("+1555302%04d", i)}
		if i%4 != 0 {
			p.email = p.name + "@example.com"
		}
		people = append(people, p)
	}
	seededTasks := 0
	for _, p := range people {
		if !p.ghl {
			if _, err := e.RZ.AdminCreateContact(e.RZToken, rzsim.Contact{FirstName: "R" + p.name, Email: p.email, Phone: p.phone}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "G" + p.name, Email: p.email, Phone: p.phone})
		if err != nil {
			t.Fatal(err)
		}
		if p.referral {
			if _, err := e.GHL.CreateNote(c.ID, ghlsim.Note{Body: "Came through a referral"}); err != nil {
				t.Fatal(err)
			}
		}
		if p.call {
			if _, err := e.GHL.CreateTask(c.ID, ghlsim.Task{Title: "Call " + p.name, DueDate: time.Now().Add(72 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
			seededTasks++
		}
	}
	notesBefore := len(e.GHL.Snapshot().Notes)
	runPoll(t, e)

	// Everyone on both sides (counted by key, duplicates or not), still under faults.
	e.Eventually(3*time.Minute, "everyone on both sides", func() (bool, string) {
		var missing []string
		for _, p := range people {
			if !slices.ContainsFunc(e.GHLContacts(), func(c ghlsim.Contact) bool { return c.Phone == p.phone }) ||
				!slices.ContainsFunc(e.RZContacts(), func(c rzsim.Contact) bool { return c.Phone == p.phone }) {
				missing = append(missing, p.name)
			}
		}
		return len(missing) == 0, fmt.Sprint(missing)
	})
	fired := func() (int64, int64) { return e.GHL.Stats().AppliedThenFailed, e.RZ.Stats().AppliedThenFailed }
	e.GHL.SetFaults(ghlsim.Faults{})
	if err := e.RZ.SetFaults(rzsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		waitIdle(t, e)
		runPoll(t, e)
	}
	waitIdle(t, e)
	ghlLost, rzLost := fired()
	t.Logf("answers lost after the write: HighLevel %d, Referrizer %d", ghlLost, rzLost)
	if ghlLost == 0 || rzLost == 0 {
		t.Errorf("the fault did not fire on both sides: HighLevel %d, Referrizer %d", ghlLost, rzLost)
	}

	// Exactly one contact per person on each side.
	ghlContacts, rzContacts := e.GHLContacts(), e.RZContacts()
	if len(ghlContacts) != len(people) || len(rzContacts) != len(people) {
		t.Errorf("contacts: HighLevel %d, Referrizer %d, want %d each", len(ghlContacts), len(rzContacts), len(people))
	}
	ghlOf, rzOf := map[string]ghlsim.Contact{}, map[string]rzsim.Contact{}
	for _, p := range people {
		var g []ghlsim.Contact
		for _, c := range ghlContacts {
			if c.Phone == p.phone {
				g = append(g, c)
			}
		}
		var r []rzsim.Contact
		for _, c := range rzContacts {
			if c.Phone == p.phone {
				r = append(r, c)
			}
		}
		if len(g) != 1 || len(r) != 1 {
			t.Errorf("%s: %d HighLevel and %d Referrizer contacts, want 1 each", p.name, len(g), len(r))
			continue
		}
		ghlOf[p.name], rzOf[p.name] = g[0], r[0]
	}

	// Rule objects: exact counts from the inputs.
	snap := e.GHL.Snapshot()
	tasksOf := map[string][]ghlsim.Task{}
	for _, tk := range snap.Tasks {
		tasksOf[tk.ContactID] = append(tasksOf[tk.ContactID], tk)
	}
	visitsOf := map[string]int{}
	for _, v := range e.RZ.Visits(e.RZToken) {
		visitsOf[v.ContactID]++
	}
	wantTasks := seededTasks
	for _, p := range people {
		g, r := ghlOf[p.name], rzOf[p.name]
		if g.ID == "" {
			continue
		}
		count := func(marker string) int {
			n := 0
			for _, tk := range tasksOf[g.ID] {
				if strings.Contains(tk.Body, marker) {
					n++
				}
			}
			return n
		}
		wantLead, wantPrep, wantVisits := 0, 0, 0
		wantLabels := []string{}
		if !p.ghl {
			wantLead = 1
		} else {
			wantVisits = 1
			wantLabels = append(wantLabels, "welcomed")
		}
		if p.call {
			wantPrep = 1
		}
		if p.referral {
			wantLabels = append(wantLabels, "referral-campaign")
		}
		wantTasks += wantLead + wantPrep
		if n := count("[hlrz:lead-task:"); n != wantLead {
			t.Errorf("%s: %d lead tasks, want %d", p.name, n, wantLead)
		}
		if n := count("[hlrz:prep-call:"); n != wantPrep {
			t.Errorf("%s: %d prepare-call tasks, want %d", p.name, n, wantPrep)
		}
		if n := visitsOf[r.ID]; n != wantVisits {
			t.Errorf("%s: %d Referrizer visits, want %d", p.name, n, wantVisits)
		}
		if !hasAll(r.Labels, wantLabels...) {
			t.Errorf("%s: labels %v, want %v", p.name, r.Labels, wantLabels)
		}
	}
	if len(snap.Tasks) != wantTasks {
		t.Errorf("HighLevel has %d tasks, want %d", len(snap.Tasks), wantTasks)
	}
	if len(snap.Notes) != notesBefore {
		t.Errorf("HighLevel has %d notes, want %d (the sync writes none)", len(snap.Notes), notesBefore)
	}
	dls, err := e.Store.ListDeadLetters(ctx, e.Conn.ID, store.DeadOpen, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dls {
		t.Errorf("dead letter %s: %s", d.Kind, d.Error)
	}
}
