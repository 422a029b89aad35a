package e2e_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// checkerMapping is the default mapping plus one custom field, like the fault suite's.
func checkerMapping(t *testing.T) *syncmodel.Mapping {
	t.Helper()
	m, err := syncmodel.ParseMapping([]byte(syncmodel.DefaultMappingYAML + `custom_fields:
  - {key: plan, ghl: cf1, rz: Plan, direction: both, conflict: newest-wins}
`))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// perfectWorld is what a flawless sync leaves for truth: every person once on each side,
// digests rendered, every webhook processed, every workflow done or idle.
func perfectWorld(m *syncmodel.Mapping, truth *e2e.Truth, now time.Time) e2e.World {
	w := e2e.World{Inbox: map[string]store.InboxState{}, Now: now, Reconciles: 1}
	n := 0
	for _, p := range truth.People {
		n++
		gid, zid := fmt.Sprintf("g%d", n), fmt.Sprintf("r%d", n)
		g := ghlsim.Contact{ID: gid, FirstName: p.FirstName, LastName: p.LastName, Email: p.Email, Phone: p.Phone, Tags: slices.Clone(p.Tags)}
		z := rzsim.Contact{ID: zid, FirstName: p.FirstName, LastName: p.LastName, Email: p.Email, Phone: p.Phone, Labels: slices.Clone(p.Tags),
			CustomFields: map[string]json.RawMessage{}}
		for _, cf := range m.CustomFields() {
			if v := p.Custom[cf.Key]; v != "" {
				g.CustomFields = append(g.CustomFields, ghlsim.CustomFieldValue{ID: cf.GHLID, Value: v})
				z.CustomFields[cf.RZName], _ = json.Marshal(v)
			}
		}
		var sn []syncmodel.Note
		for i, body := range p.Notes {
			note := ghlsim.Note{ID: fmt.Sprintf("%s-n%d", gid, i), ContactID: gid, Body: body, DateAdded: now.Add(-time.Hour)}
			w.GHLNotes = append(w.GHLNotes, note)
			sn = append(sn, syncmodel.Note{ID: note.ID, Body: body, DateAdded: note.DateAdded})
		}
		var st []syncmodel.Task
		for i, tk := range p.Tasks {
			task := ghlsim.Task{ID: fmt.Sprintf("%s-t%d", gid, i), ContactID: gid, Title: tk.Title, Completed: tk.Completed, DueDate: now.Add(24 * time.Hour), DateUpdated: now.Add(-time.Minute)}
			w.GHLTasks = append(w.GHLTasks, task)
			s := syncmodel.Task{ID: task.ID, Title: task.Title, DueDate: task.DueDate, Completed: task.Completed}
			if task.Completed {
				s.CompletedAt = task.DateUpdated
			}
			st = append(st, s)
		}
		if d := m.RenderNotesDigest(sn); d != "" {
			z.CustomFields[m.NotesField()], _ = json.Marshal(d)
		}
		text, labels := m.RenderTasksDigest(st, now)
		if text != "" {
			z.CustomFields[m.TasksField()], _ = json.Marshal(text)
		}
		z.Labels = append(z.Labels, labels...)
		for i := range p.Visits {
			w.RZVisits = append(w.RZVisits, rzsim.Visit{ID: fmt.Sprintf("%s-v%d", zid, i), ContactID: zid})
		}
		w.GHLContacts = append(w.GHLContacts, g)
		w.RZContacts = append(w.RZContacts, z)
		w.Links = append(w.Links, store.Link{ID: fmt.Sprintf("l%d", n), GHLContactID: gid, RZContactID: zid})
		hook := fmt.Sprintf("wh-%d", n)
		w.Webhooks = append(w.Webhooks, ghlsim.WebhookRecord{WebhookID: hook, Type: "ContactUpdate", ContactID: gid, Outcome: ghlsim.OutcomeDelivered})
		w.Inbox[hook] = store.InboxSignalled
		w.Workflows = append(w.Workflows, e2e.WorkflowInfo{ID: "contact-" + gid, Type: "ContactSync", Status: "Running", LongRunning: true})
	}
	w.Workflows = append(w.Workflows, e2e.WorkflowInfo{ID: "backfill", Type: "Backfill", Status: "Completed"})
	return w
}

func checkerTruth() *e2e.Truth {
	seed, err := app.Seed(nopGHL{}, nopRZ{}, "loc", "tok", app.Population{People: 12, GHLOnly: 0.5, RZOnly: 0.25, Both: 0.25, Extras: true,
		Custom: &app.SeedCustomField{Key: "plan", GHLID: "cf1", RZName: "Plan"}})
	if err != nil {
		panic(err)
	}
	truth := e2e.NewTruth(seed.Expected)
	p := truth.Person(seed.Expected[0].Email)
	p.Tasks = append(p.Tasks, e2e.WantTask{Title: "Welcome pack", Completed: true})
	p.Visits = 1
	return truth
}

// TestCheckerFindsPlantedDefects feeds the checker a flawless world, which must pass, then
// worlds with exactly one planted defect each, which must each be reported by name: a
// checker that cannot fail proves nothing.
func TestCheckerFindsPlantedDefects(t *testing.T) {
	m := checkerMapping(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	faults := []e2e.Fault{{Name: "worker SIGKILL", Count: 2}}
	clean := e2e.Check(m, checkerTruth(), perfectWorld(m, checkerTruth(), now), faults)
	if len(clean.Findings) > 0 {
		t.Fatalf("a flawless world has findings: %v", clean.Findings)
	}
	// target is the person defects are planted on: one with notes, tasks and a custom value.
	var target string
	for email, p := range checkerTruth().People {
		if len(p.Notes) > 0 && len(p.Tasks) > 1 && len(p.Custom) > 0 {
			target = email
		}
	}
	if target == "" {
		t.Fatal("no seeded person has notes, tasks and a custom value")
	}
	ghlIndex := func(w *e2e.World) int {
		return slices.IndexFunc(w.GHLContacts, func(c ghlsim.Contact) bool { return strings.EqualFold(c.Email, target) })
	}
	rzIndex := func(w *e2e.World) int {
		return slices.IndexFunc(w.RZContacts, func(c rzsim.Contact) bool { return strings.EqualFold(c.Email, target) })
	}
	cases := []struct {
		check, person string
		plant         func(truth *e2e.Truth, w *e2e.World, faults *[]e2e.Fault)
	}{
		{e2e.CheckDuplicatePerson, target, func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			dup := w.RZContacts[rzIndex(w)]
			dup.ID = "r-dup"
			w.RZContacts = append(w.RZContacts, dup)
		}},
		{e2e.CheckField, target, func(truth *e2e.Truth, _ *e2e.World, _ *[]e2e.Fault) {
			truth.Person(target).LastName = "Edited" // the edit was made, and never arrived
		}},
		{e2e.CheckTags, target, func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			g := &w.GHLContacts[ghlIndex(w)]
			g.Tags = g.Tags[1:]
		}},
		{e2e.CheckCustom, target, func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			w.RZContacts[rzIndex(w)].CustomFields["Plan"] = json.RawMessage(`"stale"`)
		}},
		{e2e.CheckDuplicateTask, target, func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			gid := w.GHLContacts[ghlIndex(w)].ID
			i := slices.IndexFunc(w.GHLTasks, func(t ghlsim.Task) bool { return t.ContactID == gid })
			dup := w.GHLTasks[i]
			dup.ID = "t-dup"
			w.GHLTasks = append(w.GHLTasks, dup)
		}},
		{e2e.CheckNotesDigest, target, func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			w.RZContacts[rzIndex(w)].CustomFields["GHL Notes"] = json.RawMessage(`"2026-01-01: an older digest"`)
		}},
		{e2e.CheckTasksDigest, target, func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			delete(w.RZContacts[rzIndex(w)].CustomFields, "GHL Tasks")
		}},
		{e2e.CheckStatusLabels, target, func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			z := &w.RZContacts[rzIndex(w)]
			z.Labels = slices.DeleteFunc(z.Labels, func(l string) bool { return l == "ghl-task-open" })
		}},
		{e2e.CheckDuplicateVisit, "", func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			v := w.RZVisits[0]
			v.ID = "v-dup"
			w.RZVisits = append(w.RZVisits, v)
		}},
		{e2e.CheckMissingVisit, "", func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			w.RZVisits = nil
		}},
		{e2e.CheckUnprocessed, "wh-1", func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			w.Inbox["wh-1"] = store.InboxPending
		}},
		{e2e.CheckUnprocessed, "wh-2", func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			delete(w.Inbox, "wh-2") // acknowledged to HighLevel, never stored
		}},
		{e2e.CheckUnrepaired, "wh-lost", func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			w.Webhooks = append(w.Webhooks, ghlsim.WebhookRecord{WebhookID: "wh-lost", Type: "ContactTagUpdate", Outcome: ghlsim.OutcomeGivenUp})
			w.Reconciles = 0
		}},
		{e2e.CheckUnrepaired, "wh-lost-edit", func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			// HighLevel gave up on the tag event; reconciles ran but the tag never arrived.
			g := &w.GHLContacts[ghlIndex(w)]
			w.Webhooks = append(w.Webhooks, ghlsim.WebhookRecord{WebhookID: "wh-lost-edit", Type: "ContactTagUpdate", ContactID: g.ID, Outcome: ghlsim.OutcomeGivenUp})
			z := &w.RZContacts[rzIndex(w)]
			z.Labels = z.Labels[1:]
		}},
		{e2e.CheckStuckWorkflow, "contact-g3", func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			i := slices.IndexFunc(w.Workflows, func(wf e2e.WorkflowInfo) bool { return wf.ID == "contact-g3" })
			w.Workflows[i].Busy = true
		}},
		{e2e.CheckStuckWorkflow, "backfill", func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			w.Workflows[len(w.Workflows)-1].Status = "Running"
		}},
		{e2e.CheckFailedWorkflow, "backfill", func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			w.Workflows[len(w.Workflows)-1].Status = "Failed"
		}},
		{e2e.CheckDeadLetter, "contact-g1", func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			w.OpenDeadLetters = append(w.OpenDeadLetters, store.DeadLetter{WorkflowID: "contact-g1", Kind: "ApplyContact", Error: "boom"})
		}},
		{e2e.CheckMissingPerson, target, func(_ *e2e.Truth, w *e2e.World, _ *[]e2e.Fault) {
			w.GHLContacts = slices.Delete(w.GHLContacts, ghlIndex(w), ghlIndex(w)+1)
		}},
		{e2e.CheckFaultDidNotFire, "", func(_ *e2e.Truth, _ *e2e.World, faults *[]e2e.Fault) {
			*faults = append(*faults, e2e.Fault{Name: "Temporal SIGKILL with activities in flight", Count: 0})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.check+"/"+tc.person, func(t *testing.T) {
			truth := checkerTruth()
			w := perfectWorld(m, truth, now)
			fs := slices.Clone(faults)
			tc.plant(truth, &w, &fs)
			rep := e2e.Check(m, truth, w, fs)
			if !rep.Has(tc.check, tc.person) {
				t.Fatalf("planted %q (person %q) not reported; findings: %v", tc.check, tc.person, rep.Findings)
			}
			if len(rep.Findings) > 3 {
				t.Errorf("one planted defect gave %d findings: %v", len(rep.Findings), rep.Findings)
			}
		})
	}
}

// nopGHL and nopRZ let the checker tests compute a seed's truth without simulators.
type nopGHL struct{}

func (nopGHL) CreateContact(c ghlsim.Contact) (ghlsim.Contact, error) { return c, nil }
func (nopGHL) CreateNote(_ string, n ghlsim.Note) (ghlsim.Note, error) {
	return n, nil
}
func (nopGHL) CreateTask(_ string, t ghlsim.Task) (ghlsim.Task, error) { return t, nil }

type nopRZ struct{}

func (nopRZ) AdminCreateContact(_ string, c rzsim.Contact) (rzsim.Contact, error) { return c, nil }
