package activities

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
)

// scanPerson is a person on both sides with n HighLevel tasks.
type scanPerson struct {
	link  store.Link
	tasks []string // task ids
}

func (w *simWorld) scanPerson(t *testing.T, i, n int) scanPerson {
	t.Helper()
	ctx := context.Background()
	email := fmt.Sprintf("p%d@example.com", i)
	gc, err := w.ghl.CreateContact(ghlsim.Contact{LocationID: w.loc, FirstName: fmt.Sprint("P", i), Email: email})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := w.rz.AdminCreateContact(w.rzToken, rzsim.Contact{FirstName: fmt.Sprint("P", i), Email: email})
	if err != nil {
		t.Fatal(err)
	}
	l, err := w.core.Store.PairLink(ctx, w.conn.ID, gc.ID, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	p := scanPerson{link: l}
	for k := range n {
		tk, err := w.ghl.CreateTask(gc.ID, ghlsim.Task{Title: fmt.Sprintf("Task %d of %d", k, i), DueDate: time.Now().Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		p.tasks = append(p.tasks, tk.ID)
	}
	return p
}

// backfillGHLPhase runs the HighLevel phase's pages to their end, as the workflow does, and
// returns the cursors it went through.
func (w *simWorld) backfillGHLPhase(t *testing.T, b *Backfill, between func(page int)) []string {
	t.Helper()
	var cursors []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 50 {
			t.Fatalf("the HighLevel phase did not end: %v", cursors)
		}
		res := run[BackfillPageResult](t, b, b.BackfillPage, BackfillPageInput{ConnectionID: w.conn.ID, Side: BackfillGHL, Cursor: cursor, PageSize: 100})
		if res.NextCursor == "" {
			return cursors
		}
		cursor = res.NextCursor
		cursors = append(cursors, cursor)
		if between != nil {
			between(page)
		}
	}
}

// planTasks runs PlanTasks for a person with events of source src and returns the plan and
// the HighLevel requests it made.
func (w *simWorld) planTasks(t *testing.T, o *Objects, l store.Link, src string) (ObjectPlan, int64) {
	t.Helper()
	before := w.ghl.Stats().Requests
	p := run[ObjectPlan](t, o, o.PlanTasks, domain.PlanInput{Ref: domain.Ref{ConnectionID: w.conn.ID, LinkID: l.ID},
		Events: []domain.Event{{Source: src, Kind: domain.KindAll}}})
	return p, w.ghl.Stats().Requests - before
}

// TestBackfillPassTakesTasksFromTheTaskScan: the HighLevel phase of a backfill ends by reading
// the location's tasks with the task search (pages of 100, one person's tasks spanning two),
// and a backfill pass then plans a person's tasks from that read without a HighLevel call,
// with the same plan a per-person read gives; a pass started by anything else reads.
func TestBackfillPassTakesTasksFromTheTaskScan(t *testing.T) {
	w := newSimWorld(t)
	people := []scanPerson{w.scanPerson(t, 0, 2), w.scanPerson(t, 1, 0), w.scanPerson(t, 2, 130), w.scanPerson(t, 3, 1)}
	b := &Backfill{Core: w.core, Signal: w.signals}
	before := w.ghl.Stats()
	cursors := w.backfillGHLPhase(t, b, nil)
	st := w.ghl.Stats()
	// One contact page (4 contacts), whose cursor leads to two task pages.
	if len(cursors) != 2 || !strings.HasPrefix(cursors[0], taskCursorPrefix) {
		t.Fatalf("cursors = %v, want the cursors of two task pages", cursors)
	}
	if n := st.Operations["task-search"] - before.Operations["task-search"]; n != 2 {
		t.Errorf("task-search requests = %d, want 2 (133 tasks in pages of 100)", n)
	}

	o := &Objects{Core: w.core}
	for i, p := range people {
		scanned, calls := w.planTasks(t, o, p.link, domain.SourceBackfill)
		if calls != 0 {
			t.Errorf("person %d: backfill pass made %d HighLevel calls, want 0 (tasks from the scan)", i, calls)
		}
		read, calls := w.planTasks(t, o, p.link, domain.SourceGHL)
		if calls != 1 {
			t.Errorf("person %d: webhook pass made %d HighLevel calls, want 1 (its own read)", i, calls)
		}
		if string(scanned.Plan) != string(read.Plan) || scanned.Summary != read.Summary {
			t.Errorf("person %d: plan from the scan %s (%s), from a read %s (%s)", i, scanned.Plan, scanned.Summary, read.Plan, read.Summary)
		}
		if want := fmt.Sprintf("(%d tasks)", len(p.tasks)); len(p.tasks) > 0 && !strings.Contains(scanned.Summary, want) {
			t.Errorf("person %d: summary %q, want %s", i, scanned.Summary, want)
		}
	}
}

// TestTaskScanStartsOverWhenTasksMove: a task deleted between two pages shifts the later
// tasks back one place; the next page notices its overlap task missing and the scan starts
// over, so no task is skipped, and the complete scan holds exactly the tasks left.
func TestTaskScanStartsOverWhenTasksMove(t *testing.T) {
	w := newSimWorld(t)
	a := w.scanPerson(t, 0, 60)
	z := w.scanPerson(t, 1, 60)
	b := &Backfill{Core: w.core, Signal: w.signals}
	cursors := w.backfillGHLPhase(t, b, func(page int) {
		if page == 1 { // after the first task page
			if err := w.ghl.DeleteTask(a.tasks[0]); err != nil {
				t.Fatal(err)
			}
		}
	})
	restarted := false
	for _, c := range cursors {
		cur, err := parseTaskCursor(c)
		if strings.HasPrefix(c, taskCursorPrefix) && err == nil && cur.Restarts == 1 && cur.Skip == 0 {
			restarted = true
		}
	}
	if !restarted {
		t.Fatalf("cursors = %v, want the scan started over once", cursors)
	}
	for _, tc := range []struct {
		p    scanPerson
		want int
	}{{a, 59}, {z, 60}} {
		tasks, ok := w.core.scannedTasks(context.Background(), 0, w.conn.ID, tc.p.link.GHLContactID, []domain.Event{{Source: domain.SourceBackfill}}, time.Time{})
		if !ok || len(tasks) != tc.want {
			t.Errorf("scanned tasks of %s: %d (usable %v), want %d", tc.p.link.GHLContactID, len(tasks), ok, tc.want)
		}
	}
}

// TestScannedTasksOnlyForFreshBackfillPasses pins when a pass may use the task scan: only a
// pass whose every event came from the backfill, after a complete scan that is within the
// age bound and newer than the person's tasks base; a contact the scan did not see had none.
func TestScannedTasksOnlyForFreshBackfillPasses(t *testing.T) {
	ctx := context.Background()
	st := linkedStore(t, 0)
	scan := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	b := &Backfill{Core: Core{Store: st}}
	if err := b.addTaskObservations(ctx, "c1", scan.UnixNano(), taskPage("g1", "t1", "t2")); err != nil {
		t.Fatal(err)
	}
	backfill := []domain.Event{{Source: domain.SourceBackfill}}
	check := func(name, id string, events []domain.Event, now, base time.Time, want, wantOK int) {
		t.Helper()
		d := &Core{Store: st, Now: func() time.Time { return now }}
		tasks, ok := d.scannedTasks(ctx, 0, "c1", id, events, base)
		if got := map[bool]int{true: 1}[ok]; got != wantOK || len(tasks) != want {
			t.Errorf("%s: %d tasks (usable %v), want %d (usable %v)", name, len(tasks), ok, want, wantOK == 1)
		}
	}
	soon := scan.Add(time.Minute)
	check("scan not complete yet", "g1", backfill, soon, time.Time{}, 0, 0)
	if err := b.completeTaskScan(ctx, "c1", scan.UnixNano()); err != nil {
		t.Fatal(err)
	}
	check("complete, fresh", "g1", backfill, soon, time.Time{}, 2, 1)
	check("a contact the scan did not see", "g9", backfill, soon, time.Time{}, 0, 1)
	check("a webhook among the events", "g1", append(backfill, domain.Event{Source: domain.SourceGHL}), soon, time.Time{}, 0, 0)
	check("no events (an operator's pass)", "g1", nil, soon, time.Time{}, 0, 0)
	check("older than the age bound", "g1", backfill, scan.Add(31*time.Minute), time.Time{}, 0, 0)
	check("base recorded after the scan began", "g1", backfill, soon, scan.Add(time.Second), 0, 0)

	// A later scan under way replaces a contact's record before it completes: not usable,
	// since the complete scan's record of them is gone.
	later := scan.Add(5 * time.Minute).UnixNano()
	if err := b.addTaskObservations(ctx, "c1", later, taskPage("g1", "t3")); err != nil {
		t.Fatal(err)
	}
	check("a later scan not complete", "g1", backfill, soon, time.Time{}, 0, 0)
	if err := b.completeTaskScan(ctx, "c1", later); err != nil {
		t.Fatal(err)
	}
	check("the later scan complete", "g1", backfill, scan.Add(6*time.Minute), time.Time{}, 1, 1)
}

func taskPage(contactID string, ids ...string) []ghl.Task {
	out := make([]ghl.Task, len(ids))
	for i, id := range ids {
		out[i] = ghl.Task{ID: id, ContactID: contactID, Title: id}
	}
	return out
}
