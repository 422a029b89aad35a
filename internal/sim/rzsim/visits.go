package rzsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Visit is a check-in as the API renders it.
type Visit struct {
	ID          string   `json:"id"`
	ContactID   string   `json:"contactId"`
	Date        string   `json:"date"`
	Points      *float64 `json:"points"`
	AmountSpent *float64 `json:"amountSpent"`
	CreatedAt   string   `json:"createdAt"`
}

type visit struct {
	Visit
	day string // UTC YYYY-MM-DD, for the once-a-day rule
}

// Activity is one entry of a contact's timeline.
type Activity struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Date        string `json:"date"`
	Description string `json:"description"`
	at          time.Time
}

// addActivity appends to a contact's timeline. Callers hold s.mu.
func (s *Server) addActivity(a *account, contactID, typ, desc string, at time.Time) {
	a.activities[contactID] = append(a.activities[contactID], Activity{
		ID: s.newID(), Type: typ, Date: formatTime(at), Description: desc, at: at,
	})
}

// parseVisitDate accepts an ISO 8601 timestamp or a bare date (midnight UTC).
func parseVisitDate(v string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse(dateLayout, v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func (s *Server) createVisit(w http.ResponseWriter, r *http.Request, a *account) {
	obj, e := readObject(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	var body struct {
		ContactID   string   `json:"contactId"`
		Points      *float64 `json:"points"`
		AmountSpent *float64 `json:"amountSpent"`
		Date        *string  `json:"date"`
	}
	raw, _ := json.Marshal(obj)
	if err := json.Unmarshal(raw, &body); err != nil {
		s.writeError(w, badRequest("ILLEGAL_ARGUMENT", "contactId and date must be strings, points and amountSpent numbers"))
		return
	}
	if body.ContactID == "" {
		s.writeError(w, badRequest("MISSING_REQUIRED_FIELD", "contactId is required"))
		return
	}
	if (body.Points != nil && *body.Points < 0) || (body.AmountSpent != nil && *body.AmountSpent < 0) {
		s.writeError(w, badRequest("ILLEGAL_ARGUMENT", "points and amountSpent must not be negative"))
		return
	}
	s.mu.Lock()
	v, e := s.checkIn(a, body.ContactID, body.Date, body.Points, body.AmountSpent)
	s.mu.Unlock()
	if e != nil {
		s.writeError(w, e)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

// checkIn records a visit. Callers hold s.mu.
func (s *Server) checkIn(a *account, contactID string, date *string, points, amount *float64) (Visit, *APIError) {
	if a.contacts[contactID] == nil {
		return Visit{}, notFound("contact")
	}
	now := s.now()
	at := now
	if date != nil && *date != "" {
		t, ok := parseVisitDate(*date)
		if !ok {
			return Visit{}, badRequest("ILLEGAL_ARGUMENT", "date must be ISO 8601")
		}
		at = t
	}
	if at.After(now) {
		return Visit{}, badRequest("VISIT_DATE_IN_FUTURE", "visit date is in the future")
	}
	day := at.Format(dateLayout)
	for _, v := range a.visits {
		if v.ContactID == contactID && v.day == day {
			return Visit{}, badRequest("CONTACT_ALREADY_CHECKED_IN", "contact already checked in on %s", day)
		}
	}
	if day == now.Format(dateLayout) {
		s.stats.Notifications++ // only a past date suppresses the customer notification
	}
	v := visit{Visit: Visit{ID: s.newID(), ContactID: contactID, Date: formatTime(at), Points: points, AmountSpent: amount, CreatedAt: formatTime(now)}, day: day}
	a.visits = append(a.visits, v)
	desc := "Visit"
	if points != nil {
		desc = fmt.Sprintf("Visit, %g points", *points)
	}
	s.addActivity(a, contactID, "VISIT", desc, at)
	return v.Visit, nil
}

func (s *Server) listActivities(w http.ResponseWriter, r *http.Request, a *account) {
	q := r.URL.Query()
	perPage := DefaultPerPage
	if v := q.Get("perPage"); v != "" {
		if _, err := fmt.Sscan(v, &perPage); err != nil || perPage < 1 || perPage > MaxPerPage || fmt.Sprint(perPage) != v {
			s.writeError(w, badRequest("ILLEGAL_ARGUMENT", "perPage must be an integer from 1 to %d", MaxPerPage))
			return
		}
	}
	var before time.Time
	if v := q.Get("beforeDate"); v != "" {
		t, ok := parseVisitDate(v)
		if !ok {
			s.writeError(w, badRequest("ILLEGAL_ARGUMENT", "beforeDate must be ISO 8601"))
			return
		}
		before = t
	}
	typ := q.Get("type")
	s.mu.Lock()
	if a.contacts[r.PathValue("id")] == nil {
		s.mu.Unlock()
		s.writeError(w, notFound("contact"))
		return
	}
	all := slices.Clone(a.activities[r.PathValue("id")])
	slices.Reverse(all)
	// Newest first by date; a back-dated visit sorts by its date, not by when it was posted.
	slices.SortStableFunc(all, func(x, y Activity) int { return y.at.Compare(x.at) })
	var items []any
	total := 0
	for _, act := range all {
		if (typ != "" && act.Type != typ) || (!before.IsZero() && !act.at.Before(before)) {
			continue
		}
		total++
		if len(items) < perPage {
			items = append(items, act)
		}
	}
	s.mu.Unlock()
	s.writeList(w, items, total, 1)
}

// isNull reports a JSON null.
func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }
