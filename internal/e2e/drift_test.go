package e2e_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/workflows"
)

// driftPerson is one person of TestDriftRepair and what Referrizer must show for them,
// computed from what the test did in HighLevel.
type driftPerson struct {
	ghlID, email string
	first        string
	tags         []string // HighLevel tags now
	notTags      []string // tags removed
	notes        []string // note bodies now
	openTasks    []string // titles of open tasks
	doneTasks    []string // titles of tasks completed
	goneTitles   []string // titles no task has any more
	deleted      bool
	openTaskID   string // the open task the person was seeded with
	edited       string // kind of edit, "" for none
}

// driftInput is the reconcile the test runs: a schedule every 30 min, open tasks re-read
// every run, everyone's notes and tasks within two runs, the delete listing when the test
// says (it also compares every contact: the test keeps it out of the first run so that run
// shows what the change read alone repairs), and
// a short overlap: the test creates everyone in one burst just before the baseline run, so
// the default 10-minute overlap would re-read all of them each run, where in production it
// holds only the last minutes' changes.
func driftInput(e *e2e.Env, deletesEvery time.Duration) domain.ReconcileInput {
	return domain.ReconcileInput{
		ConnectionID: e.Conn.ID, BudgetShare: 1, StepsPerRun: 4,
		Every: 30 * time.Minute, TasksWithin: 30 * time.Minute, SweepWithin: time.Hour,
		DeletesEvery: deletesEvery, Overlap: 100 * time.Millisecond,
	}
}

// runDrift runs one reconcile (through its continue-as-new runs) and returns its result.
func runDrift(t *testing.T, e *e2e.Env, in domain.ReconcileInput) domain.ReconcileResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "test-drift-" + strconv.FormatInt(time.Now().UnixNano(), 10), TaskQueue: e.App.Config.TaskQueue,
	}, workflows.Reconcile, in)
	if err != nil {
		t.Fatal(err)
	}
	var res domain.ReconcileResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// HighLevel drift repair: with HighLevel's webhooks off, 50 people are edited in HighLevel
// (fields, tags, notes, tasks: new, edited, completed) and 5 deleted; two reconcile runs
// alone bring all of it to Referrizer, and the people nobody touched cost no more than their
// share of the delete listing. Each person's Referrizer record is compared with what the
// edits imply.
func TestDriftRepair(t *testing.T) {
	const total, edited, deleted = 200, 50, 5
	e := e2e.Start(t, e2e.Options{})
	ctx := context.Background()
	people := make([]*driftPerson, total)
	for i := range people {
		p := &driftPerson{email: fmt.Sprintf("drift%03d@example.com", i), first: fmt.Sprintf("Dee%03d", i), tags: []string{"seed"}}
		c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: p.first, Email: p.email, Tags: []string{"seed"}})
		if err != nil {
			t.Fatal(err)
		}
		p.ghlID = c.ID
		if i%2 == 0 {
			title := fmt.Sprintf("Call Dee %03d", i)
			task, err := e.GHL.CreateTask(c.ID, ghlsim.Task{Title: title, DueDate: time.Now().Add(72 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			p.openTaskID, p.openTasks = task.ID, []string{title}
		}
		people[i] = p
	}
	e.Eventually(3*time.Minute, "every person in Referrizer", func() (bool, string) {
		n := 0
		for _, r := range e.RZContacts() {
			if strings.HasPrefix(r.Email, "drift") {
				n++
			}
		}
		return n == total, fmt.Sprintf("%d of %d", n, total)
	})
	waitIdle(t, e)

	// A first reconcile sets the high-water mark and the rotations' positions, as the
	// schedule's previous runs would have.
	base := runDrift(t, e, driftInput(e, time.Millisecond))
	t.Logf("baseline reconcile: %+v", base)
	waitIdle(t, e)

	// HighLevel's webhooks stop reaching us.
	wh := e.GHL.Webhooks()
	off := wh
	off.URL = ""
	e.GHL.SetWebhooks(off)
	for i := range edited {
		p := people[i]
		switch i % 5 {
		case 0: // fields
			p.first += "-renamed"
			p.edited = "fields"
			if _, err := e.GHL.UpdateContact(p.ghlID, ghlsim.ContactPatch{FirstName: new(p.first)}); err != nil {
				t.Fatal(err)
			}
		case 1: // tags
			p.edited = "tags"
			tag := fmt.Sprintf("drift-tag-%03d", i)
			if _, err := e.GHL.AddTags(p.ghlID, tag); err != nil {
				t.Fatal(err)
			}
			if _, err := e.GHL.RemoveTags(p.ghlID, "seed"); err != nil {
				t.Fatal(err)
			}
			p.tags, p.notTags = []string{tag}, []string{"seed"}
		case 2: // a note only (nothing HighLevel's contact search sees)
			p.edited = "notes"
			body := fmt.Sprintf("drift note %03d", i)
			if _, err := e.GHL.CreateNote(p.ghlID, ghlsim.Note{Body: body}); err != nil {
				t.Fatal(err)
			}
			p.notes = append(p.notes, body)
		case 3: // tasks only: an open task edited, or a first task added
			p.edited = "tasks"
			if p.openTaskID != "" {
				p.edited = "tasks, open"
				title := p.openTasks[0] + " (moved)"
				if _, err := e.GHL.UpdateTask(p.openTaskID, ghlsim.TaskPatch{Title: new(title)}); err != nil {
					t.Fatal(err)
				}
				p.goneTitles, p.openTasks = []string{p.openTasks[0] + "\n"}, []string{title}
			} else {
				title := fmt.Sprintf("Welcome Dee %03d", i)
				if _, err := e.GHL.CreateTask(p.ghlID, ghlsim.Task{Title: title, DueDate: time.Now().Add(48 * time.Hour)}); err != nil {
					t.Fatal(err)
				}
				p.openTasks = []string{title}
			}
		case 4: // everything at once
			p.edited = "all"
			p.first += "-all"
			if _, err := e.GHL.UpdateContact(p.ghlID, ghlsim.ContactPatch{FirstName: new(p.first)}); err != nil {
				t.Fatal(err)
			}
			tag := fmt.Sprintf("drift-all-%03d", i)
			if _, err := e.GHL.AddTags(p.ghlID, tag); err != nil {
				t.Fatal(err)
			}
			p.tags = append(p.tags, tag)
			body := fmt.Sprintf("drift all note %03d", i)
			if _, err := e.GHL.CreateNote(p.ghlID, ghlsim.Note{Body: body}); err != nil {
				t.Fatal(err)
			}
			p.notes = append(p.notes, body)
			if p.openTaskID != "" {
				if _, err := e.GHL.CompleteTask(p.openTaskID, true); err != nil {
					t.Fatal(err)
				}
				p.doneTasks, p.openTasks = p.openTasks, nil
			}
			title := fmt.Sprintf("Follow up Dee %03d", i)
			if _, err := e.GHL.CreateTask(p.ghlID, ghlsim.Task{Title: title, DueDate: time.Now().Add(24 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
			p.openTasks = append(p.openTasks, title)
		}
	}
	for i := edited; i < edited+deleted; i++ {
		people[i].deleted, people[i].edited = true, "deleted"
		if err := e.GHL.DeleteContact(people[i].ghlID); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.GHL.WaitDelivered(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.GHL.Stats().Operations; len(n) == 0 {
		t.Log("no HighLevel operations recorded yet")
	}

	var results []domain.ReconcileResult
	var missing []string
	for run := 1; run <= 2; run++ {
		e.GHL.ResetStats()
		deletesEvery := time.Hour // not due: the baseline listed everyone moments ago
		if run == 2 {
			deletesEvery = time.Millisecond
		}
		res := runDrift(t, e, driftInput(e, deletesEvery))
		results = append(results, res)
		waitIdle(t, e)
		ops := e.GHL.Stats().Operations
		missing = driftMismatches(e, people)
		t.Logf("reconcile run %d: %+v", run, res)
		t.Logf("reconcile run %d: HighLevel calls by operation, reconcile and the passes it started: %v", run, ops)
		t.Logf("after run %d: %d of %d people differ from what the edits imply", run, len(missing), total)
		if run == 1 {
			// The change read (fields, tags; a person whose fields and tags both changed
			// gets a whole pass) and the open-task re-read are complete after one run.
			for _, m := range missing {
				if strings.Contains(m, "(fields)") || strings.Contains(m, "(tags)") || strings.Contains(m, "(all)") || strings.Contains(m, "(tasks, open)") {
					t.Errorf("after run 1: %s", m)
				}
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("after two reconcile runs %d people differ from what the edits imply:\n%s", len(missing), strings.Join(missing, "\n"))
	}

	unchanged := total - edited - deleted
	for i, r := range results {
		listing := r.ListCalls - r.ChangePages
		report := fmt.Sprintf("drift repair run %d, %d people (%d edited, %d deleted, %d unchanged): %d HighLevel list calls = %d of the change read (%d contacts read, %d signalled) + %d of the delete listing (%d contacts, %.2f calls per 100 people); %d calls in all (the rest per-person reads: %d open-task people, %d swept for notes and tasks, delete confirmations)",
			i+1, total, edited, deleted, unchanged, r.ListCalls, r.ChangePages, r.ChangesRead, r.ChangesSignalled, listing, r.ContactsListed,
			float64(listing)/max(float64(r.ContactsListed)/100, 1), r.Calls, r.TasksChecked, r.Swept)
		t.Log(report)
		fmt.Fprintln(os.Stderr, report)
		// Unchanged people cost nothing in the change read (it pages what changed, 100 a
		// call); the delete listing pages everyone, 100 a call.
		if max := (edited+deleted)/100 + 1; r.ChangePages > max {
			t.Errorf("run %d: the change read made %d list calls for %d changed people, want at most %d", i+1, r.ChangePages, edited+deleted, max)
		}
		if i == 0 && listing != 0 {
			t.Errorf("run 1 listed everyone (%d calls) though the listing was not due", listing)
		}
		if max := r.ContactsListed/100 + 1; listing > max {
			t.Errorf("run %d: the delete listing made %d calls for %d contacts, want at most %d", i+1, listing, r.ContactsListed, max)
		}
	}
	e.GHL.SetWebhooks(wh)
	e.RecordHistories("drift", domain.ReconcileName)
}

// driftMismatches lists every person whose Referrizer record is not what the test's edits
// imply.
func driftMismatches(e *e2e.Env, people []*driftPerson) []string {
	byEmail := map[string]int{}
	rz := e.RZContacts()
	for i, r := range rz {
		byEmail[r.Email] = i
	}
	var out []string
	for _, p := range people {
		i, ok := byEmail[p.email]
		if !ok {
			out = append(out, p.email+": not in Referrizer")
			continue
		}
		r := rz[i]
		var why []string
		if p.deleted {
			if !slices.Contains(r.Labels, "hlrz-deleted") {
				why = append(why, fmt.Sprintf("deleted in HighLevel but labels %v", r.Labels))
			}
			if len(why) > 0 {
				out = append(out, fmt.Sprintf("%s (%s): %s", p.email, p.edited, strings.Join(why, "; ")))
			}
			continue
		}
		if r.FirstName != p.first {
			why = append(why, fmt.Sprintf("first name %q, want %q", r.FirstName, p.first))
		}
		for _, tag := range p.tags {
			if !slices.Contains(r.Labels, tag) {
				why = append(why, fmt.Sprintf("label %q missing from %v", tag, r.Labels))
			}
		}
		for _, tag := range p.notTags {
			if slices.Contains(r.Labels, tag) {
				why = append(why, fmt.Sprintf("label %q still in %v", tag, r.Labels))
			}
		}
		notes, _ := customText(r, "GHL Notes")
		for _, n := range p.notes {
			if !strings.Contains(notes, n) {
				why = append(why, fmt.Sprintf("note %q missing from %q", n, notes))
			}
		}
		tasks, _ := customText(r, "GHL Tasks")
		for _, title := range append(slices.Clone(p.openTasks), p.doneTasks...) {
			if !strings.Contains(tasks, title) {
				why = append(why, fmt.Sprintf("task %q missing from %q", title, tasks))
			}
		}
		for _, title := range p.goneTitles {
			if strings.Contains(tasks+"\n", title) {
				why = append(why, fmt.Sprintf("old task title %q still in %q", strings.TrimSpace(title), tasks))
			}
		}
		if open := slices.Contains(r.Labels, "ghl-task-open"); open != (len(p.openTasks) > 0) {
			why = append(why, fmt.Sprintf("open-task label %v with open tasks %v", open, p.openTasks))
		}
		if len(why) > 0 {
			out = append(out, fmt.Sprintf("%s (%s): %s", p.email, p.edited, strings.Join(why, "; ")))
		}
	}
	return out
}
