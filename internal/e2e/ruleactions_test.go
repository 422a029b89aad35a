package e2e_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
)

// everyActionMapping has one rule per action type.
const everyActionMapping = `version: 1
rules:
  - id: vip-welcome
    on: contact
    when: '"vip" in person.tags'
    actions:
      - {type: create_ghl_task, title: Welcome pack}
  - id: welcomed
    on: contact
    when: '"welcomed" in person.tags'
    actions:
      - {type: complete_ghl_task, created_by: vip-welcome}
  - id: referral-note
    on: notes
    when: note.body.lowerAscii().contains("referral")
    actions:
      - {type: add_rz_label, label: referral-campaign}
  - id: unsubscribe-note
    on: notes
    when: note.body.lowerAscii().contains("unsubscribe")
    actions:
      - {type: remove_rz_label, label: newsletter}
  - id: call-back-task
    on: tasks
    when: '!task.completed && task.title == "Call back"'
    actions:
      - {type: add_ghl_tag, label: needs-call}
  - id: call-back-done
    on: tasks
    when: task.completed && task.title == "Call back"
    actions:
      - {type: remove_ghl_tag, label: needs-call}
  - id: showed-visit
    on: appointments
    when: appointment.status == "showed"
    actions:
      - {type: record_rz_visit, points: 5}
`

// Every action type runs end to end against the simulators, each with the answer of one
// write lost (committed, then 502) so the apply is retried after the write landed: the
// retry makes no second task or visit, and the result is what the rule says. For tasks,
// tags and visits the lost answer is the action's own write (create-task,
// update-task-completed, add-tags, remove-tags, POST /v1/visits); for Referrizer labels it
// is the pass's first Referrizer contact write, the notes projection, which the label
// write follows in the same apply.
func TestRulesEveryActionTypeWithALostAnswer(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(everyActionMapping)})
	const email = "nia@example.com"
	c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Nia", Email: email, Tags: []string{"newsletter"}})
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "Nia in Referrizer with the newsletter label", func() (bool, string) {
		r, ok := rzByEmail(e, email)
		return ok && slices.Contains(r.Labels, "newsletter"), fmt.Sprintf("%v %v", ok, r.Labels)
	})
	waitIdle(t, e)
	tasksTitled := func(title string) []ghlsim.Task {
		var out []ghlsim.Task
		for _, tk := range e.GHL.Snapshot().Tasks {
			if tk.ContactID == c.ID && tk.Title == title {
				out = append(out, tk)
			}
		}
		return out
	}
	labels := func() []string { r, _ := rzByEmail(e, email); return r.Labels }
	tags := func() []string { g, _ := ghlByEmail(e, email); return g.Tags }
	var callBack ghlsim.Task

	steps := []struct {
		action  string
		ghlLose string // GHL operationId whose next successful write loses its answer
		rzLose  string // Referrizer route whose next successful call loses its answer
		do      func() error
		done    func() (bool, string)
	}{{
		action: "create_ghl_task", ghlLose: "create-task",
		do: func() error { _, err := e.GHL.AddTags(c.ID, "vip"); return err },
		done: func() (bool, string) {
			ts := tasksTitled("Welcome pack")
			return len(ts) == 1 && strings.Contains(ts[0].Body, "[hlrz:vip-welcome:"), fmt.Sprintf("%+v", ts)
		},
	}, {
		action: "complete_ghl_task", ghlLose: "update-task-completed",
		do: func() error { _, err := e.GHL.AddTags(c.ID, "welcomed"); return err },
		done: func() (bool, string) {
			ts := tasksTitled("Welcome pack")
			return len(ts) == 1 && ts[0].Completed, fmt.Sprintf("%+v", ts)
		},
	}, {
		action: "add_rz_label", rzLose: "PUT /v1/contacts/{id}",
		do: func() error {
			_, err := e.GHL.CreateNote(c.ID, ghlsim.Note{Body: "Came in through a Referral"})
			return err
		},
		done: func() (bool, string) {
			return slices.Contains(labels(), "referral-campaign"), fmt.Sprint(labels())
		},
	}, {
		action: "remove_rz_label", rzLose: "PUT /v1/contacts/{id}",
		do: func() error { _, err := e.GHL.CreateNote(c.ID, ghlsim.Note{Body: "Please unsubscribe me"}); return err },
		done: func() (bool, string) {
			return !slices.Contains(labels(), "newsletter"), fmt.Sprint(labels())
		},
	}, {
		action: "add_ghl_tag", ghlLose: "add-tags",
		do: func() (err error) {
			callBack, err = e.GHL.CreateTask(c.ID, ghlsim.Task{Title: "Call back", DueDate: time.Now().Add(24 * time.Hour)})
			return err
		},
		done: func() (bool, string) { return slices.Contains(tags(), "needs-call"), fmt.Sprint(tags()) },
	}, {
		action: "remove_ghl_tag", ghlLose: "remove-tags",
		do:   func() error { _, err := e.GHL.CompleteTask(callBack.ID, true); return err },
		done: func() (bool, string) { return !slices.Contains(tags(), "needs-call"), fmt.Sprint(tags()) },
	}, {
		action: "record_rz_visit", rzLose: "POST /v1/visits",
		do: func() error {
			start := time.Now().Add(-time.Hour).UTC().Truncate(time.Minute)
			ap, err := e.GHL.CreateAppointment(c.ID, ghlsim.Appointment{Title: "Class", Status: "confirmed", StartTime: start, EndTime: start.Add(time.Hour)})
			if err != nil {
				return err
			}
			ap.Status = "showed"
			_, err = e.GHL.UpdateAppointment(ap.ID, ap)
			return err
		},
		done: func() (bool, string) { v := e.RZ.Visits(e.RZToken); return len(v) == 1, fmt.Sprint(v) },
	}}
	for _, s := range steps {
		t.Run(s.action, func(t *testing.T) {
			ghlLost, rzLost := e.GHL.Stats().AppliedThenFailed, e.RZ.Stats().AppliedThenFailed
			if s.ghlLose != "" {
				e.GHL.SetFaults(ghlsim.Faults{LoseAnswerOf: map[string]int{s.ghlLose: 1}})
			}
			if s.rzLose != "" {
				if err := e.RZ.SetFaults(rzsim.Faults{LoseAnswerOf: map[string]int{s.rzLose: 1}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			e.Eventually(60*time.Second, s.action+" done", func() (bool, string) {
				ok, got := s.done()
				return ok, got + "; last plan: " + lastPlan(t, e, c.ID)
			})
			waitIdle(t, e)
			if ok, got := s.done(); !ok {
				t.Errorf("%s undone after the sync went idle: %s", s.action, got)
			}
			// The targeted loss happened: the write landed and its answer was lost.
			if s.ghlLose != "" {
				if left := e.GHL.Faults().LoseAnswerOf[s.ghlLose]; left != 0 || e.GHL.Stats().AppliedThenFailed != ghlLost+1 {
					t.Errorf("HighLevel %s: %d losses left, %d answers lost, want 0 and 1", s.ghlLose, left, e.GHL.Stats().AppliedThenFailed-ghlLost)
				}
				e.GHL.SetFaults(ghlsim.Faults{})
			}
			if s.rzLose != "" {
				if left := e.RZ.Faults().LoseAnswerOf[s.rzLose]; left != 0 || e.RZ.Stats().AppliedThenFailed != rzLost+1 {
					t.Errorf("Referrizer %s: %d losses left, %d answers lost, want 0 and 1", s.rzLose, left, e.RZ.Stats().AppliedThenFailed-rzLost)
				}
				if err := e.RZ.SetFaults(rzsim.Faults{}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	// No duplicates, and nothing left for an operator.
	if ts := tasksTitled("Welcome pack"); len(ts) != 1 {
		t.Errorf("%d Welcome pack tasks, want 1: %+v", len(ts), ts)
	}
	if v := e.RZ.Visits(e.RZToken); len(v) != 1 {
		t.Errorf("%d visits, want 1: %+v", len(v), v)
	}
	assertNoDeadLetters(t, e)
}

// Contact rules fire once per occurrence: a tag removed and added again is a second
// occurrence (a second task), while passes in between, or from the other side, are not.
func TestTagRulesFireAgainWhenTheConditionBecomesTrueAgain(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(tagRulesMapping)})
	const email = "otto@example.com"
	c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Otto", Email: email})
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "Otto in Referrizer", func() (bool, string) { _, ok := rzByEmail(e, email); return ok, "" })
	waitIdle(t, e)
	welcome := func() []ghlsim.Task {
		var out []ghlsim.Task
		for _, tk := range e.GHL.Snapshot().Tasks {
			if tk.ContactID == c.ID && tk.Title == "Welcome pack" {
				out = append(out, tk)
			}
		}
		return out
	}
	wantTasks := func(n int, why string) {
		t.Helper()
		e.Eventually(60*time.Second, fmt.Sprintf("%d Welcome pack tasks %s", n, why), func() (bool, string) {
			return len(welcome()) == n, fmt.Sprintf("%d; last plan: %s", len(welcome()), lastPlan(t, e, c.ID))
		})
		waitIdle(t, e)
		if ts := welcome(); len(ts) != n {
			t.Fatalf("%d Welcome pack tasks %s, want %d: %+v", len(ts), why, n, ts)
		}
	}
	if _, err := e.GHL.AddTags(c.ID, "vip"); err != nil {
		t.Fatal(err)
	}
	wantTasks(1, "after vip")
	// Passes while the condition stays true: nothing new.
	if _, err := e.GHL.UpdateContact(c.ID, ghlsim.ContactPatch{LastName: new("Berg")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GHL.AddTags(c.ID, "regular"); err != nil {
		t.Fatal(err)
	}
	wantTasks(1, "after other changes while vip")
	if _, err := e.GHL.RemoveTags(c.ID, "vip"); err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "vip gone from Referrizer", func() (bool, string) {
		r, _ := rzByEmail(e, email)
		return !slices.Contains(r.Labels, "vip"), fmt.Sprint(r.Labels)
	})
	wantTasks(1, "after vip was removed")
	if _, err := e.GHL.AddTags(c.ID, "vip"); err != nil {
		t.Fatal(err)
	}
	wantTasks(2, "after vip was added again")
	ts := welcome()
	if ts[0].Body == ts[1].Body {
		t.Errorf("both occurrences carry the same marker: %q", ts[0].Body)
	}
	// A Referrizer-sourced pass that sees vip (it never saw it go) is no new occurrence.
	r, _ := rzByEmail(e, email)
	if _, err := e.RZ.AdminAddLabel(e.RZToken, r.ID, "loyal"); err != nil {
		t.Fatal(err)
	}
	runPoll(t, e)
	wantTasks(2, "after a Referrizer-sourced pass")
	assertNoDeadLetters(t, e)
}

// readmeRules extracts the YAML block of the README's example rules: the first ```yaml
// block after "The three example rules".
func readmeRules(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i := strings.Index(doc, "The three example rules")
	if i < 0 {
		t.Fatal(`README.md has no "The three example rules"`)
	}
	rest := doc[i:]
	start := strings.Index(rest, "```yaml\n")
	if start < 0 {
		t.Fatal("no ```yaml block after the example rules heading")
	}
	rest = rest[start+len("```yaml\n"):]
	end := strings.Index(rest, "```")
	if end < 0 {
		t.Fatal("unterminated yaml block")
	}
	return rest[:end]
}

// The README's example rules run as written: the exact YAML block, read from README.md, is
// the mapping's rule list, and each rule does what its comment says.
func TestRulesREADMEExamplesRunAsWritten(t *testing.T) {
	block := readmeRules(t)
	if !strings.HasPrefix(block, "rules:\n") || strings.Count(block, "- id: ") != 3 {
		t.Fatalf("README example block is not three rules:\n%s", block)
	}
	e := e2e.Start(t, e2e.Options{Mapping: []byte("version: 1\n" + block)})

	// label-by-source: a HighLevel contact with a source gets src-<slug> in Referrizer.
	g, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Sal", Email: "sal@example.com", Source: "Facebook Ads"})
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "src-facebook-ads on Sal in Referrizer", func() (bool, string) {
		r, ok := rzByEmail(e, "sal@example.com")
		return ok && slices.Contains(r.Labels, "src-facebook-ads"), fmt.Sprintf("%v %v; %s", ok, r.Labels, lastPlan(t, e, g.ID))
	})
	waitIdle(t, e)

	// referral-note-campaign: a note mentioning "referral" labels the person.
	if _, err := e.GHL.CreateNote(g.ID, ghlsim.Note{Body: "<p>Asked about the <b>Referral</b> program</p>"}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "referral-campaign on Sal in Referrizer", func() (bool, string) {
		r, _ := rzByEmail(e, "sal@example.com")
		return slices.Contains(r.Labels, "referral-campaign"), fmt.Sprint(r.Labels)
	})
	waitIdle(t, e)

	// follow-up-new-lead: a new Referrizer lead gets a HighLevel task, once.
	if _, err := e.RZ.AdminCreateContact(e.RZToken, rzsim.Contact{FirstName: "Lea", LastName: "Moss", Email: "lea@example.com"}); err != nil {
		t.Fatal(err)
	}
	runPoll(t, e)
	followUps := func() []ghlsim.Task {
		lea, ok := ghlByEmail(e, "lea@example.com")
		if !ok {
			return nil
		}
		var out []ghlsim.Task
		for _, tk := range e.GHL.Snapshot().Tasks {
			if tk.ContactID == lea.ID && tk.Title == "Follow up with new Referrizer lead" {
				out = append(out, tk)
			}
		}
		return out
	}
	e.Eventually(60*time.Second, "a follow-up task for Lea in HighLevel", func() (bool, string) {
		ts := followUps()
		return len(ts) == 1 && strings.Contains(ts[0].Body, "New lead from Referrizer: Lea Moss"), fmt.Sprintf("%+v", ts)
	})
	waitIdle(t, e)
	runPoll(t, e)
	waitIdle(t, e)
	if ts := followUps(); len(ts) != 1 {
		t.Errorf("%d follow-up tasks after another poll, want 1", len(ts))
	}
	// label-by-source is a HighLevel-side rule: the Referrizer lead has no source label.
	if r, _ := rzByEmail(e, "lea@example.com"); slices.ContainsFunc(r.Labels, func(l string) bool { return strings.HasPrefix(l, "src-") }) {
		t.Errorf("Lea got a source label: %v", r.Labels)
	}
	assertNoDeadLetters(t, e)
}

// refusedActionMapping completes the welcome task and labels the person when they are
// welcomed.
const refusedActionMapping = `version: 1
rules:
  - id: welcome
    on: contact
    when: '"vip" in person.tags'
    actions:
      - {type: create_ghl_task, title: Welcome pack}
  - id: welcomed
    on: contact
    when: '"welcomed" in person.tags'
    actions:
      - {type: complete_ghl_task, created_by: welcome}
      - {type: add_rz_label, label: welcome-done}
`

// A rule action the API refuses when it is applied (the task vanished: 404 on completing
// it) is a dead letter naming the rule, never swallowed; the pass and the rule's other
// actions go on, and the refused action is not recorded as done, so a later pass does it.
func TestRulesActionRefusedAtApplyIsADeadLetter(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(refusedActionMapping)})
	const email = "rae@example.com"
	c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Rae", Email: email, Tags: []string{"vip"}})
	if err != nil {
		t.Fatal(err)
	}
	welcome := func() []ghlsim.Task {
		var out []ghlsim.Task
		for _, tk := range e.GHL.Snapshot().Tasks {
			if tk.ContactID == c.ID && tk.Title == "Welcome pack" {
				out = append(out, tk)
			}
		}
		return out
	}
	e.Eventually(60*time.Second, "Rae in Referrizer with a Welcome pack task", func() (bool, string) {
		_, ok := rzByEmail(e, email)
		return ok && len(welcome()) == 1, fmt.Sprintf("%v %d", ok, len(welcome()))
	})
	waitIdle(t, e)
	e.GHL.SetFaults(ghlsim.Faults{NotFoundOf: map[string]int{"update-task-completed": 1}})
	if _, err := e.GHL.AddTags(c.ID, "welcomed"); err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "welcome-done in Referrizer", func() (bool, string) {
		r, _ := rzByEmail(e, email)
		return slices.Contains(r.Labels, "welcome-done"), fmt.Sprintf("%v; %s", r.Labels, lastPlan(t, e, c.ID))
	})
	waitIdle(t, e)
	e.GHL.SetFaults(ghlsim.Faults{})
	if ts := welcome(); len(ts) != 1 {
		t.Fatalf("tasks after the refused completion: %+v", ts)
	}
	dls, err := e.Store.ListDeadLetters(context.Background(), e.Conn.ID, store.DeadOpen, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].Kind != "Rules.action" || !strings.Contains(dls[0].Error, "rule welcomed") ||
		!strings.Contains(dls[0].Error, "complete_ghl_task") || !strings.Contains(strings.ToLower(dls[0].Error), "not found") {
		for _, d := range dls {
			t.Logf("dead letter %s: %s", d.Kind, d.Error)
		}
		t.Fatalf("%d open dead letters, want one Rules.action for the welcomed rule's complete_ghl_task (404)", len(dls))
	}
	if st := lastPlan(t, e, c.ID); !strings.Contains(st, `last error ""`) {
		t.Errorf("the pass failed: %s", st)
	}
	// Not recorded as done: the next contact pass completes the task (still there).
	if _, err := e.GHL.UpdateContact(c.ID, ghlsim.ContactPatch{LastName: new("Quinn")}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "the Welcome pack task completed by a later pass", func() (bool, string) {
		ts := welcome()
		return len(ts) == 1 && ts[0].Completed, fmt.Sprintf("%+v; %s", ts, lastPlan(t, e, c.ID))
	})
}

// assertNoDeadLetters fails the test for any open dead letter.
func assertNoDeadLetters(t *testing.T, e *e2e.Env) {
	t.Helper()
	dls, err := e.Store.ListDeadLetters(context.Background(), e.Conn.ID, store.DeadOpen, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dls {
		t.Errorf("open dead letter %s: %s", d.Kind, d.Error)
	}
}
