package ghlsim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
)

// The methods below act as a person editing in HighLevel: they change state exactly like
// the API does (same validation, duplicate rules, dateUpdated and webhooks) but are not
// authenticated, rate limited or counted as API writes.

// CreateContact creates a contact in c.LocationID. A non-zero c.DateAdded backdates it, for
// seeding history.
func (s *Server) CreateContact(c Contact) (Contact, error) {
	if c.LocationID == "" {
		return Contact{}, errUnprocessable("locationId should not be empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, err := s.createContactLocked(c.LocationID, ContactPatch{}.fromContact(c), c.DateAdded)
	if err != nil {
		return Contact{}, err
	}
	return out.clone(), nil
}

// SetAllowDuplicates sets a location's "Allow Duplicate Contact" setting: when allowed,
// POST /contacts/ creates a second contact with an existing e-mail or phone instead of
// refusing it (upsert still updates the match unless createNewIfDuplicateAllowed is set).
func (s *Server) SetAllowDuplicates(loc string, allow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allowDup[loc] = allow
}

// Contact returns a contact by id.
func (s *Server) Contact(id string) (Contact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[id]
	if !ok {
		return Contact{}, false
	}
	return c.clone(), true
}

// UpdateContact edits a contact.
func (s *Server) UpdateContact(id string, p ContactPatch) (Contact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked("", id)
	if err != nil {
		return Contact{}, err
	}
	if err := s.updateContactLocked(c, p); err != nil {
		return Contact{}, err
	}
	return c.clone(), nil
}

// DeleteContact deletes a contact with its tasks, notes and appointments.
func (s *Server) DeleteContact(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked("", id)
	if err != nil {
		return err
	}
	s.deleteContactLocked(c)
	return nil
}

// AddTags adds tags (lower-cased, de-duplicated) to a contact.
func (s *Server) AddTags(contactID string, tags ...string) (Contact, error) {
	return s.adminTags(contactID, true, tags)
}

// RemoveTags removes tags from a contact.
func (s *Server) RemoveTags(contactID string, tags ...string) (Contact, error) {
	return s.adminTags(contactID, false, tags)
}

func (s *Server) adminTags(contactID string, add bool, tags []string) (Contact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked("", contactID)
	if err != nil {
		return Contact{}, err
	}
	s.tagsLocked(c, add, tags)
	return c.clone(), nil
}

// CreateNote adds a note to a contact.
func (s *Server) CreateNote(contactID string, n Note) (Note, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked("", contactID)
	if err != nil {
		return Note{}, err
	}
	p := NotePatch{Body: &n.Body, UserID: &n.UserID, Title: &n.Title, Color: &n.Color, Pinned: &n.Pinned}
	return *s.createNoteLocked(c, p), nil
}

// UpdateNote edits a note.
func (s *Server) UpdateNote(noteID string, p NotePatch) (Note, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.noteLocked("", "", noteID)
	if err != nil {
		return Note{}, err
	}
	s.updateNoteLocked(n, p)
	return *n, nil
}

// DeleteNote deletes a note.
func (s *Server) DeleteNote(noteID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.noteLocked("", "", noteID)
	if err != nil {
		return err
	}
	s.deleteNoteLocked(n)
	return nil
}

// CreateTask adds a task to a contact.
func (s *Server) CreateTask(contactID string, t Task) (Task, error) {
	if t.Title == "" {
		return Task{}, errUnprocessable("title should not be empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked("", contactID)
	if err != nil {
		return Task{}, err
	}
	p := TaskPatch{Title: &t.Title, Body: &t.Body, AssignedTo: &t.AssignedTo, Completed: &t.Completed}
	if !t.DueDate.IsZero() {
		p.DueDate = &t.DueDate
	}
	return *s.createTaskLocked(c, p), nil
}

// UpdateTask edits a task. Like HighLevel, only completing it sends a webhook.
func (s *Server) UpdateTask(taskID string, p TaskPatch) (Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.taskLocked("", "", taskID)
	if err != nil {
		return Task{}, err
	}
	s.updateTaskLocked(t, p)
	return *t, nil
}

// CompleteTask marks a task completed (TaskComplete webhook) or open again (no webhook).
func (s *Server) CompleteTask(taskID string, completed bool) (Task, error) {
	return s.UpdateTask(taskID, TaskPatch{Completed: &completed})
}

// DeleteTask deletes a task.
func (s *Server) DeleteTask(taskID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.taskLocked("", "", taskID)
	if err != nil {
		return err
	}
	s.deleteTaskLocked(t)
	return nil
}

// CreateAppointment books an appointment for a contact.
func (s *Server) CreateAppointment(contactID string, a Appointment) (Appointment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.contactLocked("", contactID)
	if err != nil {
		return Appointment{}, err
	}
	now := s.stampLocked()
	a.ID, a.LocationID, a.ContactID, a.DateAdded, a.DateUpdated = s.newIDLocked(), c.LocationID, c.ID, now, now
	a.Users = slices.Clone(a.Users)
	if a.Status == "" {
		a.Status = "confirmed"
	}
	stored := a
	s.appts[a.ID] = &stored
	s.emitLocked(stored.event("AppointmentCreate"))
	return a, nil
}

// UpdateAppointment copies the non-zero fields of a onto the appointment.
func (s *Server) UpdateAppointment(id string, a Appointment) (Appointment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.appts[id]
	if cur == nil {
		return Appointment{}, s.errNotFound("Appointment")
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cur.Title, a.Title)
	set(&cur.Status, a.Status)
	set(&cur.CalendarID, a.CalendarID)
	set(&cur.GroupID, a.GroupID)
	set(&cur.AssignedUserID, a.AssignedUserID)
	set(&cur.Notes, a.Notes)
	set(&cur.Address, a.Address)
	set(&cur.Source, a.Source)
	if !a.StartTime.IsZero() {
		cur.StartTime = a.StartTime
	}
	if !a.EndTime.IsZero() {
		cur.EndTime = a.EndTime
	}
	if a.Users != nil {
		cur.Users = slices.Clone(a.Users)
	}
	cur.DateUpdated = s.stampLocked()
	s.emitLocked(cur.event("AppointmentUpdate"))
	return *cur, nil
}

// DeleteAppointment deletes an appointment.
func (s *Server) DeleteAppointment(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.appts[id]
	if a == nil {
		return s.errNotFound("Appointment")
	}
	delete(s.appts, id)
	s.emitLocked(a.event("AppointmentDelete"))
	return nil
}

// AddCustomField defines a custom field in f.LocationID; FieldKey defaults to
// "contact.<name in snake case>", DataType to TEXT and Model to contact.
func (s *Server) AddCustomField(f CustomField) (CustomField, error) {
	if f.LocationID == "" || f.Name == "" {
		return CustomField{}, errUnprocessable("locationId and name should not be empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f.ID = s.newIDLocked()
	if f.Model == "" {
		f.Model = "contact"
	}
	if f.DataType == "" {
		f.DataType = "TEXT"
	}
	if f.FieldKey == "" {
		f.FieldKey = f.Model + "." + strings.ReplaceAll(strings.ToLower(strings.TrimSpace(f.Name)), " ", "_")
	}
	f.Position = len(s.fields[f.LocationID])
	stored := f
	s.fields[f.LocationID] = append(s.fields[f.LocationID], &stored)
	return f, nil
}

// Snapshot is every record the simulator holds, sorted by id.
type Snapshot struct {
	Contacts     []Contact     `json:"contacts"`
	Tasks        []Task        `json:"tasks"`
	Notes        []Note        `json:"notes"`
	Appointments []Appointment `json:"appointments"`
}

// Snapshot copies the whole state, for convergence checks.
func (s *Server) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{Contacts: []Contact{}, Tasks: []Task{}, Notes: []Note{}, Appointments: []Appointment{}}
	for _, c := range s.contacts {
		snap.Contacts = append(snap.Contacts, c.clone())
	}
	for _, t := range s.tasks {
		snap.Tasks = append(snap.Tasks, *t)
	}
	for _, n := range s.notes {
		snap.Notes = append(snap.Notes, *n)
	}
	for _, a := range s.appts {
		cp := *a
		cp.Users = slices.Clone(a.Users)
		snap.Appointments = append(snap.Appointments, cp)
	}
	slices.SortFunc(snap.Contacts, func(a, b Contact) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Tasks, func(a, b Task) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Notes, func(a, b Note) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(snap.Appointments, func(a, b Appointment) int { return strings.Compare(a.ID, b.ID) })
	return snap
}

// ---- HTTP ----

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", s.token)
	mux.HandleFunc("POST /oauth/locationToken", s.locationToken)
	mux.HandleFunc("GET /oauth/chooselocation", s.authorize)
	mux.HandleFunc("GET /v2/oauth/chooselocation", s.authorize)
	mux.HandleFunc("GET /custom-page", s.serveCustomPage)
	mux.HandleFunc("/", s.serveAPI)

	get := func(pattern string, fn func() any) {
		mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, fn()) })
	}
	get("/admin/stats", func() any { return s.Stats() })
	get("/admin/faults", func() any { return s.Faults() })
	get("/admin/webhooks", func() any { return s.Webhooks() })
	get("/admin/snapshot", func() any { return s.Snapshot() })
	get("/admin/webhooks/log", func() any { return s.WebhookLog() })
	mux.HandleFunc("GET /admin/webhooks/public-key", func(w http.ResponseWriter, _ *http.Request) {
		pemText, err := s.WebhookPublicKeyPEM()
		if err != nil {
			writeError(w, &apiError{status: http.StatusInternalServerError, msg: err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(pemText)
	})
	// POST /admin/webhooks/sign signs the request body as HighLevel would, with both of the
	// simulator's keys, so a person can hand-craft deliveries (tampered, mixed headers)
	// against a receiver that trusts the simulator.
	mux.HandleFunc("POST /admin/webhooks/sign", func(w http.ResponseWriter, r *http.Request) {
		body, aerr := s.readBody(w, r)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		sig, legacy, err := s.SignWebhook(body)
		if err != nil {
			writeError(w, &apiError{status: http.StatusInternalServerError, msg: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, obj{ghl.SignatureHeader: sig, ghl.LegacySignatureHeader: legacy})
	})
	mux.HandleFunc("POST /admin/stats/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetStats()
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("POST /admin/webhooks/wait", func(w http.ResponseWriter, r *http.Request) {
		timeout := 30 * time.Second
		if d, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && d > 0 {
			timeout = d
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		if err := s.WaitDelivered(ctx); err != nil {
			writeError(w, &apiError{status: http.StatusGatewayTimeout, msg: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, s.Stats().Webhooks)
	})

	handle(s, mux, "POST /admin/faults", func(_ *http.Request, f Faults) (int, any, error) {
		switch f.TokenErrorShape {
		case "", TokenErrorRFC6749, TokenErrorBadRequestDTO, TokenErrorUnauthorizedDTO:
		default:
			return 0, nil, errUnprocessable("tokenErrorShape must be one of rfc6749, BadRequestDTO, UnauthorizedDTO (or empty)")
		}
		if f.AppliedThenFailRate < 0 || f.AppliedThenFailRate > 1 {
			return 0, nil, errUnprocessable("appliedThenFailRate must be between 0 and 1")
		}
		s.SetFaults(f)
		return http.StatusOK, s.Faults(), nil
	})
	handle(s, mux, "POST /admin/webhooks", func(_ *http.Request, o WebhookOptions) (int, any, error) {
		switch o.Sign {
		case "", SignEd25519, SignBoth, SignLegacy:
		default:
			return 0, nil, errUnprocessable("sign must be one of ed25519, both, legacy")
		}
		s.SetWebhooks(o)
		return http.StatusOK, s.Webhooks(), nil
	})
	type locToken struct {
		LocationID string `json:"locationId"`
		Token      string `json:"token"`
	}
	handle(s, mux, "POST /admin/tokens", func(_ *http.Request, in locToken) (int, any, error) {
		if in.LocationID == "" || in.Token == "" {
			return 0, nil, errUnprocessable("locationId and token should not be empty")
		}
		s.AddPrivateToken(in.LocationID, in.Token)
		return http.StatusCreated, obj{"locationId": in.LocationID}, nil
	})
	handle(s, mux, "POST /admin/uninstall", func(_ *http.Request, in locToken) (int, any, error) {
		s.Uninstall(in.LocationID)
		return http.StatusOK, obj{"locationId": in.LocationID}, nil
	})
	handle(s, mux, "POST /admin/revoke-refresh-tokens", func(_ *http.Request, in locToken) (int, any, error) {
		if in.LocationID == "" {
			return 0, nil, errUnprocessable("locationId should not be empty")
		}
		return http.StatusOK, obj{"locationId": in.LocationID, "revoked": s.RevokeRefreshTokens(in.LocationID)}, nil
	})
	handle(s, mux, "POST /admin/expire-tokens", func(_ *http.Request, in locToken) (int, any, error) {
		s.ExpireAccessTokens(in.LocationID)
		return http.StatusOK, obj{"locationId": in.LocationID}, nil
	})

	handle(s, mux, "POST /admin/contacts", func(_ *http.Request, c Contact) (int, any, error) {
		out, err := s.CreateContact(c)
		return http.StatusCreated, out, err
	})
	mux.HandleFunc("GET /admin/contacts/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.Contact(r.PathValue("id"))
		if !ok {
			writeError(w, s.errNotFound("Contact"))
			return
		}
		writeJSON(w, http.StatusOK, c)
	})
	handle(s, mux, "PUT /admin/contacts/{id}", func(r *http.Request, p ContactPatch) (int, any, error) {
		out, err := s.UpdateContact(r.PathValue("id"), p)
		return http.StatusOK, out, err
	})
	handleNoBody(s, mux, "DELETE /admin/contacts/{id}", func(r *http.Request) (any, error) {
		return obj{"succeded": true}, s.DeleteContact(r.PathValue("id"))
	})
	type tagsIn struct {
		Tags []string `json:"tags"`
	}
	handle(s, mux, "POST /admin/contacts/{id}/tags", func(r *http.Request, in tagsIn) (int, any, error) {
		out, err := s.AddTags(r.PathValue("id"), in.Tags...)
		return http.StatusOK, out, err
	})
	handle(s, mux, "DELETE /admin/contacts/{id}/tags", func(r *http.Request, in tagsIn) (int, any, error) {
		out, err := s.RemoveTags(r.PathValue("id"), in.Tags...)
		return http.StatusOK, out, err
	})
	handle(s, mux, "POST /admin/contacts/{id}/notes", func(r *http.Request, n Note) (int, any, error) {
		out, err := s.CreateNote(r.PathValue("id"), n)
		return http.StatusCreated, out, err
	})
	handle(s, mux, "PUT /admin/notes/{id}", func(r *http.Request, p NotePatch) (int, any, error) {
		out, err := s.UpdateNote(r.PathValue("id"), p)
		return http.StatusOK, out, err
	})
	handleNoBody(s, mux, "DELETE /admin/notes/{id}", func(r *http.Request) (any, error) {
		return obj{"succeded": true}, s.DeleteNote(r.PathValue("id"))
	})
	handle(s, mux, "POST /admin/contacts/{id}/tasks", func(r *http.Request, t Task) (int, any, error) {
		out, err := s.CreateTask(r.PathValue("id"), t)
		return http.StatusCreated, out, err
	})
	handle(s, mux, "PUT /admin/tasks/{id}", func(r *http.Request, p TaskPatch) (int, any, error) {
		out, err := s.UpdateTask(r.PathValue("id"), p)
		return http.StatusOK, out, err
	})
	type completedIn struct {
		Completed *bool `json:"completed"`
	}
	handle(s, mux, "PUT /admin/tasks/{id}/completed", func(r *http.Request, in completedIn) (int, any, error) {
		done := in.Completed == nil || *in.Completed
		out, err := s.CompleteTask(r.PathValue("id"), done)
		return http.StatusOK, out, err
	})
	handleNoBody(s, mux, "DELETE /admin/tasks/{id}", func(r *http.Request) (any, error) {
		return obj{"succeded": true}, s.DeleteTask(r.PathValue("id"))
	})
	handle(s, mux, "POST /admin/contacts/{id}/appointments", func(r *http.Request, a Appointment) (int, any, error) {
		out, err := s.CreateAppointment(r.PathValue("id"), a)
		return http.StatusCreated, out, err
	})
	handle(s, mux, "PUT /admin/appointments/{id}", func(r *http.Request, a Appointment) (int, any, error) {
		out, err := s.UpdateAppointment(r.PathValue("id"), a)
		return http.StatusOK, out, err
	})
	handleNoBody(s, mux, "DELETE /admin/appointments/{id}", func(r *http.Request) (any, error) {
		return obj{"succeded": true}, s.DeleteAppointment(r.PathValue("id"))
	})
	handle(s, mux, "POST /admin/customFields", func(_ *http.Request, f CustomField) (int, any, error) {
		out, err := s.AddCustomField(f)
		return http.StatusCreated, out, err
	})
	return mux
}

// handle registers an admin endpoint taking a JSON body.
func handle[T any](s *Server, mux *http.ServeMux, pattern string, fn func(*http.Request, T) (int, any, error)) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		body, aerr := s.readBody(w, r)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		var in T
		if len(body) > 0 {
			if err := json.Unmarshal(body, &in); err != nil {
				writeError(w, errBad("invalid JSON body: "+err.Error()))
				return
			}
		}
		status, out, err := fn(r, in)
		writeAdmin(w, status, out, err)
	})
}

func handleNoBody(s *Server, mux *http.ServeMux, pattern string, fn func(*http.Request) (any, error)) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		out, err := fn(r)
		writeAdmin(w, http.StatusOK, out, err)
	})
}

func writeAdmin(w http.ResponseWriter, status int, out any, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		writeError(w, ae)
	case err != nil:
		writeError(w, &apiError{status: http.StatusInternalServerError, msg: err.Error()})
	default:
		writeJSON(w, status, out)
	}
}
