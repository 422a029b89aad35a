package ghl_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

// seedTasks gives each of contacts n tasks titled title, round robin, and returns them in
// creation order (the simulator's search order).
func seedTasks(t *testing.T, sim *ghlsim.Server, contacts []ghlsim.Contact, title string, n int) []ghlsim.Task {
	t.Helper()
	out := make([]ghlsim.Task, n)
	for i := range n {
		tk, err := sim.CreateTask(contacts[i%len(contacts)].ID, ghlsim.Task{Title: title, DueDate: time.Date(2030, 1, 2, 15, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = tk
	}
	return out
}

func seedContacts(t *testing.T, sim *ghlsim.Server, n int) []ghlsim.Contact {
	t.Helper()
	out := make([]ghlsim.Contact, n)
	for i := range n {
		out[i] = seedContact(t, sim, fmt.Sprintf("c%d@example.com", i))
	}
	return out
}

// findCalls runs FindTaskContact and returns how many requests it sent.
func findCalls(t *testing.T, c *ghl.Client, taskID, title string) (string, int64, error) {
	t.Helper()
	before := c.Calls()
	id, err := c.FindTaskContact(ctxT(t), taskID, title)
	return id, c.Calls() - before, err
}

func TestFindTaskContactLaterPage(t *testing.T) {
	e := newEnv(t, ghlsim.Options{})
	c := e.client(t, ghl.StaticToken(pit), nil)
	contacts := seedContacts(t, e.sim, 3)
	seedTasks(t, e.sim, contacts, "Unrelated", 30)
	tasks := seedTasks(t, e.sim, contacts, "Renewal call", 250)

	// By title: the 250 namesakes fill pages of 100, the last one is on the third.
	target := tasks[len(tasks)-1]
	id, calls, err := findCalls(t, c, target.ID, "renewal CALL")
	if err != nil || id != target.ContactID {
		t.Fatalf("by title: contact %q, %v; want %q", id, err, target.ContactID)
	}
	if calls != 3 {
		t.Errorf("by title: %d requests, want 3", calls)
	}
	// Without a title every task is scanned: 280 tasks, the last on page 3.
	id, calls, err = findCalls(t, c, target.ID, "")
	if err != nil || id != target.ContactID || calls != 3 {
		t.Fatalf("without title: contact %q after %d requests, %v", id, calls, err)
	}
	// A task on the first page costs one request.
	if id, calls, err := findCalls(t, c, tasks[0].ID, "Renewal call"); err != nil || id != tasks[0].ContactID || calls != 1 {
		t.Errorf("first page: contact %q after %d requests, %v", id, calls, err)
	}
	e.assertContract(t)
}

func TestFindTaskContactNotFound(t *testing.T) {
	e := newEnv(t, ghlsim.Options{})
	c := e.client(t, ghl.StaticToken(pit), nil)
	contacts := seedContacts(t, e.sim, 2)
	tasks := seedTasks(t, e.sim, contacts, "Call back", 120)
	if err := e.sim.DeleteTask(tasks[7].ID); err != nil {
		t.Fatal(err)
	}

	// 119 tasks remain, all titled "Call back": two pages. A title search that finds nothing
	// falls back to scanning every task.
	for _, tc := range []struct {
		name, id, title string
		calls           int64
	}{
		{"deleted, by title", tasks[7].ID, "Call back", 2 + 2},
		{"deleted, no title", tasks[7].ID, "", 2},
		{"unknown", "noSuchTask0000000001", "Nothing like it", 1 + 2},
	} {
		_, calls, err := findCalls(t, c, tc.id, tc.title)
		var apiErr *ghl.APIError
		if !errors.Is(err, ghl.ErrNotFound) || !errors.As(err, &apiErr) || apiErr.Status != 0 || apiErr.Op != "task-search" || ghl.Retryable(err) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if calls != tc.calls {
			t.Errorf("%s: %d requests, want %d", tc.name, calls, tc.calls)
		}
	}

	// Another location's task is not this location's.
	elsewhere, err := e.sim.CreateContact(ghlsim.Contact{LocationID: "locSimOther000000001", Email: "x@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	foreign := seedTasks(t, e.sim, []ghlsim.Contact{elsewhere}, "Call back", 1)[0]
	if _, _, err := findCalls(t, c, foreign.ID, "Call back"); !errors.Is(err, ghl.ErrNotFound) {
		t.Errorf("another location's task: %v", err)
	}

	if _, err := c.FindTaskContact(ctxT(t), " ", "Call back"); err == nil || errors.Is(err, ghl.ErrNotFound) {
		t.Errorf("empty task id: %v", err)
	}
	// HighLevel failing is not "not found".
	e.sim.SetFaults(ghlsim.Faults{Force5xx: 1, Status5xx: http.StatusBadGateway})
	if _, err := c.FindTaskContact(ctxT(t), tasks[0].ID, "Call back"); !errors.Is(err, ghl.ErrServer) || !ghl.Retryable(err) {
		t.Errorf("search failing: %v", err)
	}
	e.assertContract(t)
}

func TestFindTaskContactWithoutTitle(t *testing.T) {
	e := newEnv(t, ghlsim.Options{})
	c := e.client(t, ghl.StaticToken(pit), nil)
	contacts := seedContacts(t, e.sim, 3)
	seedTasks(t, e.sim, contacts, "Call back", 150)
	untitled := seedTasks(t, e.sim, contacts[2:], "To be cleared", 1)[0]
	if _, err := e.sim.UpdateTask(untitled.ID, ghlsim.TaskPatch{Title: new("")}); err != nil {
		t.Fatal(err)
	}
	renamed := seedTasks(t, e.sim, contacts[1:2], "Old title", 1)[0]
	if _, err := e.sim.UpdateTask(renamed.ID, ghlsim.TaskPatch{Title: new("New title")}); err != nil {
		t.Fatal(err)
	}

	// The event carried no title (or only blanks): every task is scanned; the untitled task
	// is the 151st, on page 2.
	for _, title := range []string{"", "  "} {
		id, calls, err := findCalls(t, c, untitled.ID, title)
		if err != nil || id != contacts[2].ID || calls != 2 {
			t.Errorf("untitled task, title %q: contact %q after %d requests, %v", title, id, calls, err)
		}
	}
	// The event's title is stale: the title search finds nothing, the scan finds the task.
	id, calls, err := findCalls(t, c, renamed.ID, "Old title")
	if err != nil || id != contacts[1].ID || calls != 1+2 {
		t.Errorf("renamed task: contact %q after %d requests, %v", id, calls, err)
	}
	e.assertContract(t)
}

// TestFindTaskContactBounded: the search stops after 20 pages and then does not claim the
// task is gone.
func TestFindTaskContactBounded(t *testing.T) {
	e := newEnv(t, ghlsim.Options{})
	c := e.client(t, ghl.StaticToken(pit), nil)
	contacts := seedContacts(t, e.sim, 4)
	tasks := seedTasks(t, e.sim, contacts, "Call back", 2050)

	_, calls, err := findCalls(t, c, "noSuchTask0000000001", "")
	if err == nil || errors.Is(err, ghl.ErrNotFound) || calls != 20 {
		t.Fatalf("beyond the bound: %d requests, %v", calls, err)
	}
	t.Logf("beyond the bound: %v", err)
	// Within the bound it is found: the 2,000th namesake is on page 20.
	last := tasks[1999]
	if id, calls, err := findCalls(t, c, last.ID, "Call back"); err != nil || id != last.ContactID || calls != 20 {
		t.Errorf("task on page 20: contact %q after %d requests, %v", id, calls, err)
	}
	e.assertContract(t)
}

// TestSearchTasksPaging: SearchTasks pages by skip and limit, takes ids from _id, and says
// where the next page starts; a page shorter than the limit is the last (HighLevel sends no
// total), so a location whose tasks fill the last page exactly costs one more, empty, page.
func TestSearchTasksPaging(t *testing.T) {
	e := newEnv(t, ghlsim.Options{})
	c := e.client(t, ghl.StaticToken(pit), nil)
	contacts := seedContacts(t, e.sim, 3)
	tasks := seedTasks(t, e.sim, contacts, "Call", 50)
	ctx := ctxT(t)

	var got []string
	var nexts []int
	before := c.Calls()
	for skip, pages := 0, 0; ; pages++ {
		if pages > 5 {
			t.Fatalf("paging did not end: nexts %v", nexts)
		}
		page, err := c.SearchTasks(ctx, ghl.TaskSearchParams{Limit: 25, Skip: skip})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range page.Tasks {
			got = append(got, tk.ID)
			if tk.ContactID == "" || tk.Title != "Call" {
				t.Errorf("task %+v: want its contact and title", tk)
			}
		}
		nexts = append(nexts, page.Next)
		if page.Next == 0 {
			break
		}
		skip = page.Next
	}
	if want := []int{25, 50, 0}; fmt.Sprint(nexts) != fmt.Sprint(want) {
		t.Errorf("next skips %v, want %v (two full pages, then an empty one)", nexts, want)
	}
	if calls := c.Calls() - before; calls != 3 {
		t.Errorf("%d requests, want 3", calls)
	}
	var want []string
	for _, tk := range tasks {
		want = append(want, tk.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged ids %v, want every task once in order %v", got, want)
	}

	// Default limit 25: 50 tasks fill the first page; a short page is the last; past the
	// end is an empty last page.
	for _, tc := range []struct {
		p       ghl.TaskSearchParams
		n, next int
	}{
		{ghl.TaskSearchParams{}, 25, 25},
		{ghl.TaskSearchParams{Limit: 20, Skip: 40}, 10, 0},
		{ghl.TaskSearchParams{Limit: 10, Skip: 40}, 10, 50},
		{ghl.TaskSearchParams{Skip: 500}, 0, 0},
	} {
		page, err := c.SearchTasks(ctx, tc.p)
		if err != nil || len(page.Tasks) != tc.n || page.Next != tc.next {
			t.Errorf("search %+v: %d tasks, next %d, %v; want %d tasks, next %d", tc.p, len(page.Tasks), page.Next, err, tc.n, tc.next)
		}
	}

	before = c.Calls()
	if _, err := c.SearchTasks(ctx, ghl.TaskSearchParams{Skip: -1}); err == nil {
		t.Error("negative skip: no error")
	}
	if c.Calls() != before {
		t.Error("negative skip: a request was sent")
	}
	e.assertContract(t)
}
