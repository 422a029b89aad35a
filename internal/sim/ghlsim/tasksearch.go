package ghlsim

import (
	"math"
	"net/http"
	"slices"
	"strings"
)

// taskSearchProps are TaskSearchParamsDto's properties (locations.json).
var taskSearchProps = []string{"contactId", "completed", "assignedTo", "query", "limit", "skip", "businessId"}

type taskSearchBody struct {
	ContactID  []string `json:"contactId"`
	Completed  *bool    `json:"completed"`
	AssignedTo []string `json:"assignedTo"`
	Query      string   `json:"query"`
	Limit      *float64 `json:"limit"`
	Skip       *float64 `json:"skip"`
	BusinessID string   `json:"businessId"`
}

// searchTasks is POST /locations/{locationId}/tasks/search: the location's tasks across
// contacts, filtered by every field given (contactId and assignedTo match any listed id;
// query is a case-insensitive substring of the title; businessId is the business of the
// task's contact), oldest first with ties broken by id, paged with skip and limit (default
// 25). Like HighLevel it answers 201 with rows keyed by _id, carries no total, and includes
// the contact's name as contactDetails.
func (s *Server) searchTasks(q *request) (int, any, *apiError) {
	if q.params["locationId"] != q.loc {
		return 0, nil, errForbidden()
	}
	var in taskSearchBody
	if err := decodeStrict(q.body, taskSearchProps, &in); err != nil {
		return 0, nil, err
	}
	limit, skip := 25, 0
	var msgs []string
	if in.Limit != nil {
		if n := *in.Limit; n < 1 || n != math.Trunc(n) {
			msgs = append(msgs, "limit must be a positive integer")
		} else {
			limit = int(min(n, math.MaxInt32))
		}
	}
	if in.Skip != nil {
		if n := *in.Skip; n < 0 || n != math.Trunc(n) {
			msgs = append(msgs, "skip must be an integer not less than 0")
		} else {
			skip = int(min(n, math.MaxInt32))
		}
	}
	if len(msgs) > 0 {
		return 0, nil, errUnprocessable(msgs...)
	}
	query := strings.ToLower(strings.TrimSpace(in.Query))

	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*Task
	for _, t := range s.tasks {
		if t.LocationID != q.loc ||
			(len(in.ContactID) > 0 && !slices.Contains(in.ContactID, t.ContactID)) ||
			(len(in.AssignedTo) > 0 && !slices.Contains(in.AssignedTo, t.AssignedTo)) ||
			(in.Completed != nil && t.Completed != *in.Completed) ||
			(query != "" && !strings.Contains(strings.ToLower(t.Title), query)) {
			continue
		}
		if in.BusinessID != "" {
			if c := s.contacts[t.ContactID]; c == nil || c.BusinessID != in.BusinessID {
				continue
			}
		}
		hits = append(hits, t)
	}
	slices.SortFunc(hits, func(a, b *Task) int {
		if c := a.DateAdded.Compare(b.DateAdded); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	page := hits[min(skip, len(hits)):min(skip+limit, len(hits))]
	out := make([]obj, len(page))
	for i, t := range page {
		out[i] = t.searchWire(s.contacts[t.ContactID])
	}
	return http.StatusCreated, obj{"tasks": out}, nil
}

// searchWire is a task as the location task search returns it: _id instead of id, plus
// locationId, deleted and the contact's name (null when unknown, as HighLevel often sends).
func (t *Task) searchWire(c *Contact) obj {
	m := t.wire()
	delete(m, "id")
	m["_id"] = t.ID
	m["locationId"] = t.LocationID
	m["deleted"] = false
	details := obj{"firstName": nil, "lastName": nil}
	if c != nil {
		if c.FirstName != "" {
			details["firstName"] = c.FirstName
		}
		if c.LastName != "" {
			details["lastName"] = c.LastName
		}
	}
	m["contactDetails"] = details
	return m
}
