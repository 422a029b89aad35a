package ghl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// DefaultTaskSearchLimit is the page size SearchTasks asks for when TaskSearchParams.Limit is
// not set: HighLevel's documented default.
const DefaultTaskSearchLimit = 25

// Paging of FindTaskContact: pages of findTaskPageSize tasks, at most findTaskMaxPages in one
// call (both passes together). HighLevel has been seen to return full pages of 500, so 100 is
// well inside what it serves; a page shorter than asked for is the last.
const (
	findTaskPageSize = 100
	findTaskMaxPages = 20
)

// TaskSearchParams filters POST /locations/{locationId}/tasks/search. Zero fields do not
// filter.
type TaskSearchParams struct {
	ContactIDs []string // tasks of any of these contacts
	Completed  *bool    // nil: open and completed tasks
	AssignedTo []string // tasks assigned to any of these users
	Query      string   // search value; HighLevel matches it against the title
	Limit      int      // page size; default DefaultTaskSearchLimit
	Skip       int      // tasks to skip, for paging
	BusinessID string
}

// TaskSearchPage is one page of a location's tasks.
type TaskSearchPage struct {
	Tasks []Task
	// Next is the Skip of the following page; 0 on the last page. HighLevel reports no total,
	// so a page with fewer tasks than the limit is taken as the last.
	Next int
}

// taskSearchBody is TaskSearchParamsDto (locations.json).
type taskSearchBody struct {
	ContactID  []string `json:"contactId,omitempty"`
	Completed  *bool    `json:"completed,omitempty"`
	AssignedTo []string `json:"assignedTo,omitempty"`
	Query      string   `json:"query,omitempty"`
	Limit      int      `json:"limit"`
	Skip       int      `json:"skip,omitempty"`
	BusinessID string   `json:"businessId,omitempty"`
}

type taskSearchResponse struct {
	Tasks []searchTask `json:"tasks"`
}

// searchTask is a task as the search returns it: keyed by _id, unlike the per-contact task
// endpoints (their id is read too, should HighLevel ever align them).
type searchTask struct {
	Task
	MongoID string `json:"_id"`
}

// SearchTasks reads one page of the location's tasks, across contacts, with POST
// /locations/{locationId}/tasks/search (scope locations/tasks.readonly). Each Task has its
// id (HighLevel sends it as _id here), title, body, contactId, assignedTo, dueDate,
// completed, dateAdded and dateUpdated.
func (c *Client) SearchTasks(ctx context.Context, p TaskSearchParams) (TaskSearchPage, error) {
	const op = "task-search"
	if p.Skip < 0 {
		return TaskSearchPage{}, errors.New("ghl: task-search: negative skip")
	}
	if p.Limit <= 0 {
		p.Limit = DefaultTaskSearchLimit
	}
	body := taskSearchBody{
		ContactID: p.ContactIDs, Completed: p.Completed, AssignedTo: p.AssignedTo, Query: p.Query,
		Limit: p.Limit, Skip: p.Skip, BusinessID: p.BusinessID,
	}
	var out taskSearchResponse
	if err := c.do(ctx, call{op: op, method: http.MethodPost, path: pathf("/locations/%s/tasks/search", c.loc), body: body, out: &out}); err != nil {
		return TaskSearchPage{}, err
	}
	return out.page(p.Skip, p.Limit), nil
}

func (r taskSearchResponse) page(skip, limit int) TaskSearchPage {
	p := TaskSearchPage{Tasks: make([]Task, len(r.Tasks))}
	for i, st := range r.Tasks {
		p.Tasks[i] = st.Task
		if st.MongoID != "" {
			p.Tasks[i].ID = st.MongoID
		}
	}
	if n := len(r.Tasks); n >= limit && n > 0 {
		p.Next = skip + n
	}
	return p
}

// FindTaskContact returns the contact of a task, for a TaskCreate event that came without
// contactId: HighLevel's per-task read needs the contact id, so it pages through the
// location's task search until the task shows up. With a title (the event's) it first
// searches for that, which usually takes one request; when that search does not turn up the
// task (the title may have been edited since, or HighLevel may read the query differently),
// and when there is no title, it pages through all of the location's tasks.
//
// The contact id is "" when the task belongs to no contact. An error matching ErrNotFound
// (an *APIError with Status 0) means the search ran to its end without the task: it no
// longer exists. The search is bounded to 20 pages of 100 tasks; when that runs out first it
// fails with an error that does not match ErrNotFound, since the task may still exist.
func (c *Client) FindTaskContact(ctx context.Context, taskID, title string) (contactID string, err error) {
	const op = "task-search"
	if err := requireIDs(op, taskID); err != nil {
		return "", err
	}
	queries := []string{""}
	if t := strings.TrimSpace(title); t != "" {
		queries = []string{t, ""}
	}
	pages := 0
	for _, q := range queries {
		for skip := 0; ; {
			if pages == findTaskMaxPages {
				// The title stays out of the error: it may name a person.
				return "", fmt.Errorf("ghl: %s: task %s not found in the first %d pages of %d tasks; gave up", op, taskID, pages, findTaskPageSize)
			}
			page, err := c.SearchTasks(ctx, TaskSearchParams{Query: q, Limit: findTaskPageSize, Skip: skip})
			pages++
			if err != nil {
				return "", err
			}
			for _, t := range page.Tasks {
				if t.ID == taskID {
					return t.ContactID, nil
				}
			}
			if page.Next == 0 {
				break
			}
			skip = page.Next
		}
	}
	return "", &APIError{Op: op, kind: ErrNotFound, Message: "the task is not among the location's tasks"}
}
