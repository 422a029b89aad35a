package ghlsim

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// The mutations below are shared by the API handlers and the admin methods, so a change made
// "by a person in HighLevel" and one made through the API behave and notify the same way.
// All run with s.mu held.

func (s *Server) contactLocked(loc, id string) (*Contact, *apiError) {
	c := s.contacts[id]
	if c == nil || (loc != "" && c.LocationID != loc) {
		return nil, s.errNotFound("Contact")
	}
	return c, nil
}

func (s *Server) taskLocked(loc, contactID, id string) (*Task, *apiError) {
	t := s.tasks[id]
	if t == nil || (loc != "" && t.LocationID != loc) || (contactID != "" && t.ContactID != contactID) {
		return nil, s.errNotFound("Task")
	}
	return t, nil
}

func (s *Server) noteLocked(loc, contactID, id string) (*Note, *apiError) {
	n := s.notes[id]
	if n == nil || (loc != "" && n.LocationID != loc) || (contactID != "" && n.ContactID != contactID) {
		return nil, s.errNotFound("Note")
	}
	return n, nil
}

func (s *Server) resolveKeyLocked(loc string) func(string) string {
	return func(key string) string {
		for _, f := range s.fields[loc] {
			if f.FieldKey == key || f.FieldKey == "contact."+key {
				return f.ID
			}
		}
		return ""
	}
}

// duplicateLocked finds the oldest other contact of loc with the same e-mail, else the same
// phone: HighLevel's order of duplicate checks.
func (s *Server) duplicateLocked(loc, email, phone, exceptID string) (*Contact, string) {
	email = strings.ToLower(strings.TrimSpace(email))
	phone = normalizePhone(phone)
	var best *Contact
	var field string
	better := func(c *Contact) bool {
		return best == nil || c.DateAdded.Before(best.DateAdded) || (c.DateAdded.Equal(best.DateAdded) && c.ID < best.ID)
	}
	for _, key := range []string{"email", "phone"} {
		for _, c := range s.contacts {
			if c.LocationID != loc || c.ID == exceptID {
				continue
			}
			match := (key == "email" && email != "" && strings.ToLower(c.Email) == email) ||
				(key == "phone" && phone != "" && c.Phone == phone)
			if match && better(c) {
				best, field = c, key
			}
		}
		if best != nil {
			return best, field
		}
	}
	return nil, ""
}

// allowsDuplicatesLocked reports the location's "Allow Duplicate Contact" setting.
func (s *Server) allowsDuplicatesLocked(loc string) bool {
	if v, ok := s.allowDup[loc]; ok {
		return v
	}
	return s.opts.AllowDuplicates
}

func (s *Server) errDuplicateLocked(dup *Contact, field string) *apiError {
	return &apiError{status: http.StatusBadRequest, msg: "This location does not allow duplicated contacts.", extra: obj{
		"meta":    obj{"contactName": dup.Name(), "contactId": dup.ID, "matchingField": field},
		"traceId": s.traceIDLocked(),
	}}
}

func (s *Server) traceIDLocked() string {
	r := s.randLocked(32)
	return strings.ToLower(r[:8] + "-" + r[8:12] + "-" + r[12:16] + "-" + r[16:20] + "-" + r[20:32])
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// createContactLocked creates a contact; dateAdded, when non-zero, backdates it (admin seeding).
func (s *Server) createContactLocked(loc string, p ContactPatch, dateAdded time.Time) (*Contact, *apiError) {
	if msgs := p.validate(); len(msgs) > 0 {
		return nil, errUnprocessable(msgs...)
	}
	if !s.allowsDuplicatesLocked(loc) {
		if dup, field := s.duplicateLocked(loc, str(p.Email), str(p.Phone), ""); dup != nil {
			return nil, s.errDuplicateLocked(dup, field)
		}
	}
	now := s.stampLocked()
	c := &Contact{ID: s.newIDLocked(), LocationID: loc, Tags: []string{}, DateAdded: now, DateUpdated: now}
	if !dateAdded.IsZero() {
		c.DateAdded = dateAdded.UTC().Truncate(time.Millisecond)
	}
	c.apply(p, s.resolveKeyLocked(loc))
	s.contacts[c.ID] = c
	s.emitLocked(c.event("ContactCreate"))
	return c, nil
}

// updateContactLocked applies p; only real changes bump dateUpdated and send events.
func (s *Server) updateContactLocked(c *Contact, p ContactPatch) *apiError {
	if msgs := p.validate(); len(msgs) > 0 {
		return errUnprocessable(msgs...)
	}
	if !s.allowsDuplicatesLocked(c.LocationID) && (p.Email != nil || p.Phone != nil) {
		if dup, field := s.duplicateLocked(c.LocationID, str(p.Email), str(p.Phone), c.ID); dup != nil {
			return s.errDuplicateLocked(dup, field)
		}
	}
	ch := c.apply(p, s.resolveKeyLocked(c.LocationID))
	if !ch.any() {
		return nil
	}
	c.DateUpdated = s.stampLocked()
	if ch.fields {
		s.emitLocked(c.event("ContactUpdate"))
	}
	if ch.tags {
		s.emitLocked(c.event("ContactTagUpdate"))
	}
	if ch.dnd {
		s.emitLocked(c.event("ContactDndUpdate"))
	}
	return nil
}

// tagsLocked adds or removes tags; it reports whether the contact changed.
func (s *Server) tagsLocked(c *Contact, add bool, tags []string) bool {
	next := append([]string(nil), c.Tags...)
	for _, t := range normalizeTags(tags) {
		i := slices.Index(next, t)
		switch {
		case add && i < 0:
			next = append(next, t)
		case !add && i >= 0:
			next = append(next[:i], next[i+1:]...)
		}
	}
	if slices.Equal(next, c.Tags) {
		return false
	}
	c.Tags = next
	c.DateUpdated = s.stampLocked()
	s.emitLocked(c.event("ContactTagUpdate"))
	return true
}

// deleteContactLocked deletes a contact with its tasks, notes and appointments. HighLevel
// sends ContactDelete only, not an event per dependent record.
func (s *Server) deleteContactLocked(c *Contact) {
	delete(s.contacts, c.ID)
	for id, t := range s.tasks {
		if t.ContactID == c.ID {
			delete(s.tasks, id)
		}
	}
	for id, n := range s.notes {
		if n.ContactID == c.ID {
			delete(s.notes, id)
		}
	}
	for id, a := range s.appts {
		if a.ContactID == c.ID {
			delete(s.appts, id)
		}
	}
	s.emitLocked(c.event("ContactDelete"))
}

func (s *Server) createTaskLocked(c *Contact, p TaskPatch) *Task {
	now := s.stampLocked()
	t := &Task{ID: s.newIDLocked(), LocationID: c.LocationID, ContactID: c.ID, DueDate: now, DateAdded: now, DateUpdated: now}
	t.apply(p)
	s.tasks[t.ID] = t
	// Users report TaskCreate arriving without contactId; the knob reproduces it.
	withContact := true
	if rate := s.wh.options().OmitTaskContactRate; rate > 0 && s.rng.Float64() < rate {
		withContact = false
	}
	s.emitLocked(t.event("TaskCreate", withContact))
	return t
}

func (t *Task) apply(p TaskPatch) (changed, completedNow bool) {
	before := *t
	if p.Title != nil {
		t.Title = *p.Title
	}
	if p.Body != nil {
		t.Body = *p.Body
	}
	if p.AssignedTo != nil {
		t.AssignedTo = *p.AssignedTo
	}
	if p.DueDate != nil {
		t.DueDate = p.DueDate.UTC().Truncate(time.Millisecond)
	}
	if p.Completed != nil {
		t.Completed = *p.Completed
	}
	return *t != before, t.Completed && !before.Completed
}

// updateTaskLocked edits a task. Like HighLevel it sends TaskComplete when the task becomes
// completed and nothing for any other edit: there is no TaskUpdate event.
func (s *Server) updateTaskLocked(t *Task, p TaskPatch) {
	changed, completedNow := t.apply(p)
	if !changed {
		return
	}
	t.DateUpdated = s.stampLocked()
	if completedNow {
		s.emitLocked(t.event("TaskComplete", true))
	}
}

func (s *Server) deleteTaskLocked(t *Task) {
	delete(s.tasks, t.ID)
	s.emitLocked(t.event("TaskDelete", true))
}

func (s *Server) createNoteLocked(c *Contact, p NotePatch) *Note {
	now := s.stampLocked()
	n := &Note{ID: s.newIDLocked(), LocationID: c.LocationID, ContactID: c.ID, DateAdded: now, DateUpdated: now}
	n.apply(p)
	s.notes[n.ID] = n
	s.emitLocked(n.event("NoteCreate"))
	return n
}

func (s *Server) updateNoteLocked(n *Note, p NotePatch) {
	if !n.apply(p) {
		return
	}
	n.DateUpdated = s.stampLocked()
	s.emitLocked(n.event("NoteUpdate"))
}

func (s *Server) deleteNoteLocked(n *Note) {
	delete(s.notes, n.ID)
	s.emitLocked(n.event("NoteDelete"))
}

// emitLocked queues a webhook; holding s.mu keeps events in the order of the changes.
func (s *Server) emitLocked(ev obj) { s.wh.enqueue(ev) }
