package ghl

import (
	"context"
	"errors"
	"net/http"
)

type taskResponse struct {
	Task Task `json:"task"`
}

// ListTasks lists a contact's tasks. HighLevel sends no webhook when a task is edited, so
// reading this list is the only way to see such edits.
func (c *Client) ListTasks(ctx context.Context, contactID string) ([]Task, error) {
	const op = "get-all-tasks"
	if err := requireIDs(op, contactID); err != nil {
		return nil, err
	}
	var out struct {
		Tasks []Task `json:"tasks"`
	}
	err := c.do(ctx, call{op: op, method: http.MethodGet, path: pathf("/contacts/%s/tasks", contactID), out: &out})
	return out.Tasks, err
}

// GetTask reads one task.
func (c *Client) GetTask(ctx context.Context, contactID, taskID string) (Task, error) {
	const op = "get-task"
	if err := requireIDs(op, contactID, taskID); err != nil {
		return Task{}, err
	}
	var out taskResponse
	err := c.do(ctx, call{op: op, method: http.MethodGet, path: pathf("/contacts/%s/tasks/%s", contactID, taskID), out: &out})
	return out.Task, err
}

// CreateTask creates a task on a contact.
func (c *Client) CreateTask(ctx context.Context, contactID string, t NewTask) (Task, error) {
	const op = "create-task"
	if err := requireIDs(op, contactID); err != nil {
		return Task{}, err
	}
	if t.DueDate.IsZero() {
		return Task{}, errors.New("ghl: create-task: HighLevel requires a due date")
	}
	var out taskResponse
	err := c.do(ctx, call{op: op, method: http.MethodPost, path: pathf("/contacts/%s/tasks", contactID), body: t, out: &out})
	return out.Task, err
}

// UpdateTask changes the fields set in u.
func (c *Client) UpdateTask(ctx context.Context, contactID, taskID string, u TaskUpdate) (Task, error) {
	const op = "update-task"
	if err := requireIDs(op, contactID, taskID); err != nil {
		return Task{}, err
	}
	var out taskResponse
	err := c.do(ctx, call{op: op, method: http.MethodPut, path: pathf("/contacts/%s/tasks/%s", contactID, taskID), body: u, out: &out})
	return out.Task, err
}

// SetTaskCompleted marks a task completed or open again.
func (c *Client) SetTaskCompleted(ctx context.Context, contactID, taskID string, completed bool) (Task, error) {
	const op = "update-task-completed"
	if err := requireIDs(op, contactID, taskID); err != nil {
		return Task{}, err
	}
	body := struct {
		Completed bool `json:"completed"`
	}{completed}
	var out taskResponse
	err := c.do(ctx, call{op: op, method: http.MethodPut, path: pathf("/contacts/%s/tasks/%s/completed", contactID, taskID), body: body, out: &out})
	return out.Task, err
}

// DeleteTask deletes a task.
func (c *Client) DeleteTask(ctx context.Context, contactID, taskID string) error {
	const op = "delete-task"
	if err := requireIDs(op, contactID, taskID); err != nil {
		return err
	}
	return c.deleted(ctx, call{op: op, method: http.MethodDelete, path: pathf("/contacts/%s/tasks/%s", contactID, taskID)})
}

type noteResponse struct {
	Note Note `json:"note"`
}

// ListNotes lists a contact's notes.
func (c *Client) ListNotes(ctx context.Context, contactID string) ([]Note, error) {
	const op = "get-all-notes"
	if err := requireIDs(op, contactID); err != nil {
		return nil, err
	}
	var out struct {
		Notes []Note `json:"notes"`
	}
	err := c.do(ctx, call{op: op, method: http.MethodGet, path: pathf("/contacts/%s/notes", contactID), out: &out})
	return out.Notes, err
}

// GetNote reads one note.
func (c *Client) GetNote(ctx context.Context, contactID, noteID string) (Note, error) {
	const op = "get-note"
	if err := requireIDs(op, contactID, noteID); err != nil {
		return Note{}, err
	}
	var out noteResponse
	err := c.do(ctx, call{op: op, method: http.MethodGet, path: pathf("/contacts/%s/notes/%s", contactID, noteID), out: &out})
	return out.Note, err
}

// CreateNote adds a note to a contact.
func (c *Client) CreateNote(ctx context.Context, contactID string, n NewNote) (Note, error) {
	const op = "create-note"
	if err := requireIDs(op, contactID); err != nil {
		return Note{}, err
	}
	var out noteResponse
	err := c.do(ctx, call{op: op, method: http.MethodPost, path: pathf("/contacts/%s/notes", contactID), body: n, out: &out})
	return out.Note, err
}

// UpdateNote changes the fields set in u.
func (c *Client) UpdateNote(ctx context.Context, contactID, noteID string, u NoteUpdate) (Note, error) {
	const op = "update-note"
	if err := requireIDs(op, contactID, noteID); err != nil {
		return Note{}, err
	}
	var out noteResponse
	err := c.do(ctx, call{op: op, method: http.MethodPut, path: pathf("/contacts/%s/notes/%s", contactID, noteID), body: u, out: &out})
	return out.Note, err
}

// DeleteNote deletes a note.
func (c *Client) DeleteNote(ctx context.Context, contactID, noteID string) error {
	const op = "delete-note"
	if err := requireIDs(op, contactID, noteID); err != nil {
		return err
	}
	return c.deleted(ctx, call{op: op, method: http.MethodDelete, path: pathf("/contacts/%s/notes/%s", contactID, noteID)})
}

func (c *Client) deleted(ctx context.Context, r call) error {
	var out struct {
		Succeeded bool `json:"succeded"` // sic: HighLevel's spelling
	}
	r.out = &out
	if err := c.do(ctx, r); err != nil {
		return err
	}
	if !out.Succeeded {
		return errors.New("ghl: " + r.op + ": HighLevel did not confirm the delete")
	}
	return nil
}
