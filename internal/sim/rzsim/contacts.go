package rzsim

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Contact is a contact as the API renders it. CustomFields is keyed by field name. Extra
// holds top-level fields the simulator does not model (e.g. loyaltyPoints), kept as sent.
type Contact struct {
	ID                    string
	FirstName             string
	LastName              string
	Email                 string
	Phone                 string
	BirthDate             string // YYYY-MM-DD
	Type                  string
	Description           string
	Labels                []string
	CustomFields          map[string]json.RawMessage
	UnsubscribedFromText  bool
	UnsubscribedFromEmail bool
	CreatedAt             time.Time
	UpdatedAt             time.Time
	Extra                 map[string]json.RawMessage
}

// contactKeys are the modelled top-level keys; everything else goes to Extra.
var contactKeys = map[string]bool{
	"id": true, "firstName": true, "lastName": true, "email": true, "phone": true,
	"birthDate": true, "type": true, "description": true, "labels": true, "customFields": true,
	"shouldSendNotification": true, "unsubscribedFromText": true, "unsubscribedFromEmail": true,
	"createdAt": true, "updatedAt": true,
}

// MarshalJSON renders the API shape: empty strings as null, labels and customFields always
// present, Extra merged in at the top level.
func (c Contact) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(c.Extra)+15)
	for k, v := range c.Extra {
		if !contactKeys[k] {
			m[k] = v
		}
	}
	m["id"] = c.ID
	for k, v := range map[string]string{
		"firstName": c.FirstName, "lastName": c.LastName, "email": c.Email, "phone": c.Phone,
		"birthDate": c.BirthDate, "type": c.Type, "description": c.Description,
	} {
		if v == "" {
			m[k] = nil
		} else {
			m[k] = v
		}
	}
	m["labels"] = nonNil(c.Labels)
	cf := c.CustomFields
	if cf == nil {
		cf = map[string]json.RawMessage{}
	}
	m["customFields"] = cf
	m["unsubscribedFromText"] = c.UnsubscribedFromText
	m["unsubscribedFromEmail"] = c.UnsubscribedFromEmail
	if !c.CreatedAt.IsZero() {
		m["createdAt"] = formatTime(c.CreatedAt)
	}
	if !c.UpdatedAt.IsZero() {
		m["updatedAt"] = formatTime(c.UpdatedAt)
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the API shape with the same type rules the API applies to bodies.
func (c *Contact) UnmarshalJSON(b []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	in, e := parseContact(obj)
	if e != nil {
		return e
	}
	*c = in.c
	c.ID = in.id
	c.CreatedAt, c.UpdatedAt = in.createdAt, in.updatedAt
	return nil
}

// contactInput is a parsed contact body, before account-level validation.
type contactInput struct {
	c                    Contact
	id                   string
	notify               bool
	createdAt, updatedAt time.Time
}

// parseContact checks JSON types key by key. Read-only keys are parsed but not applied by
// writers; unknown keys go to Extra untouched.
func parseContact(obj map[string]json.RawMessage) (contactInput, *APIError) {
	var in contactInput
	c := &in.c
	strs := map[string]*string{
		"id": &in.id, "firstName": &c.FirstName, "lastName": &c.LastName, "email": &c.Email,
		"phone": &c.Phone, "birthDate": &c.BirthDate, "type": &c.Type, "description": &c.Description,
	}
	bools := map[string]*bool{
		"shouldSendNotification": &in.notify, "unsubscribedFromText": &c.UnsubscribedFromText,
		"unsubscribedFromEmail": &c.UnsubscribedFromEmail,
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) { // sorted, so the first error is stable
		raw := obj[k]
		null := isNull(raw)
		switch {
		case strs[k] != nil:
			if !null && json.Unmarshal(raw, strs[k]) != nil {
				return in, badRequest("ILLEGAL_ARGUMENT", "%s must be a string", k)
			}
		case bools[k] != nil:
			if !null && json.Unmarshal(raw, bools[k]) != nil {
				return in, badRequest("ILLEGAL_ARGUMENT", "%s must be a boolean", k)
			}
		case k == "labels":
			if !null && json.Unmarshal(raw, &c.Labels) != nil {
				return in, badRequest("ILLEGAL_ARGUMENT", "labels must be an array of strings")
			}
		case k == "customFields":
			if !null && json.Unmarshal(raw, &c.CustomFields) != nil {
				return in, badRequest("ILLEGAL_ARGUMENT", "customFields must be an object")
			}
		case k == "createdAt" || k == "updatedAt":
			var v string
			if !null && json.Unmarshal(raw, &v) == nil {
				if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
					if k == "createdAt" {
						in.createdAt = t.UTC()
					} else {
						in.updatedAt = t.UTC()
					}
				}
			}
		default:
			if c.Extra == nil {
				c.Extra = map[string]json.RawMessage{}
			}
			c.Extra[k] = slices.Clone(raw)
		}
	}
	return in, nil
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// validate applies the account's rules to a parsed contact (self is the id being replaced,
// or "") and returns the contact to store, with custom fields keyed by field id. Callers
// hold s.mu.
func (a *account) validate(c Contact, self string) (Contact, *APIError) {
	if strings.TrimSpace(c.Email) == "" && strings.TrimSpace(c.Phone) == "" {
		return c, badRequest("MISSING_REQUIRED_FIELD", "email or phone is required")
	}
	if c.Email != "" {
		if !emailRE.MatchString(c.Email) {
			return c, badRequest("ILLEGAL_ARGUMENT", "email is not a valid address")
		}
		if other, ok := a.emails[strings.ToLower(c.Email)]; ok && other != self {
			return c, badRequest("RESOURCE_ALREADY_EXISTS", "a contact with this email already exists")
		}
	}
	if c.Phone != "" && digits(c.Phone) == "" {
		return c, badRequest("ILLEGAL_ARGUMENT", "phone has no digits")
	}
	if c.BirthDate != "" {
		if _, err := time.Parse(dateLayout, c.BirthDate); err != nil {
			return c, badRequest("ILLEGAL_ARGUMENT", "birthDate must be YYYY-MM-DD")
		}
	}
	var labels []string
	for _, l := range c.Labels {
		l = strings.TrimSpace(l)
		if l == "" {
			return c, badRequest("ILLEGAL_ARGUMENT", "labels must not be empty")
		}
		if !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	c.Labels = labels
	values := map[string]json.RawMessage{}
	for key, raw := range c.CustomFields {
		f := a.fieldByKey(key)
		if f == nil {
			return c, badRequest("INVALID_CUSTOM_FIELD_NAME", "no custom field named %q", key)
		}
		if isNull(raw) {
			continue
		}
		if err := f.check(raw); err != nil {
			return c, err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return c, badRequest("ILLEGAL_ARGUMENT", "custom field %q has an invalid value", f.Name)
		}
		values[f.ID] = buf.Bytes()
	}
	c.CustomFields = values
	return c, nil
}

// digits keeps only ASCII digits: the phone filter compares these.
func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// render returns a deep copy of a stored contact with custom fields keyed by name.
// Callers hold s.mu.
func (a *account) render(rec *record) Contact {
	c := rec.c
	c.Labels = slices.Clone(c.Labels)
	c.Extra = maps.Clone(c.Extra)
	c.CustomFields = make(map[string]json.RawMessage, len(rec.c.CustomFields))
	for id, v := range rec.c.CustomFields {
		if f := a.fields[id]; f != nil {
			c.CustomFields[f.Name] = slices.Clone(v)
		}
	}
	return c
}

// view is what a handler writes: the rendered contact, minus timestamps if so configured.
func (s *Server) view(a *account, rec *record) Contact {
	c := a.render(rec)
	if s.opts.OmitTimestamps {
		c.CreatedAt, c.UpdatedAt = time.Time{}, time.Time{}
	}
	return c
}

type record struct {
	c   Contact // CustomFields keyed by field id
	seq int64
}

// insert creates a contact from a body. notify is false for admin writes: a person in the
// back office is not the sync. Callers hold s.mu.
func (s *Server) insert(a *account, obj map[string]json.RawMessage, countNotify bool, how string) (*record, *APIError) {
	in, e := parseContact(obj)
	if e != nil {
		return nil, e
	}
	c, e := a.validate(in.c, "")
	if e != nil {
		return nil, e
	}
	now := s.now()
	c.ID, c.CreatedAt, c.UpdatedAt = s.newID(), now, now
	s.seq++
	rec := &record{c: c, seq: s.seq}
	a.contacts[c.ID] = rec
	a.ordered = append(a.ordered, rec)
	if c.Email != "" {
		a.emails[strings.ToLower(c.Email)] = c.ID
	}
	if countNotify && in.notify {
		s.stats.Notifications++
	}
	s.addActivity(a, c.ID, "CONTACT_CREATED", "Contact created "+how, now)
	return rec, nil
}

// replace applies a full-replace PUT. Callers hold s.mu.
func (s *Server) replace(a *account, id string, obj map[string]json.RawMessage, countNotify bool, how string) (*record, *APIError) {
	rec := a.contacts[id]
	if rec == nil {
		return nil, notFound("contact")
	}
	in, e := parseContact(obj)
	if e != nil {
		return nil, e
	}
	if in.id != "" && in.id != id {
		return nil, badRequest("ILLEGAL_ARGUMENT", "id in body does not match the path")
	}
	c, e := a.validate(in.c, id)
	if e != nil {
		return nil, e
	}
	if countNotify && in.notify {
		s.stats.Notifications++
	}
	before := a.render(rec)
	c.ID, c.CreatedAt, c.UpdatedAt = id, rec.c.CreatedAt, rec.c.UpdatedAt
	old := rec.c
	rec.c = c
	changed := changedKeys(before, a.render(rec))
	if len(changed) == 0 {
		// A no-op write leaves updatedAt alone, so pollers do not see phantom changes.
		rec.c = old
		return rec, nil
	}
	rec.c.UpdatedAt = s.now()
	if old.Email != "" {
		delete(a.emails, strings.ToLower(old.Email))
	}
	if c.Email != "" {
		a.emails[strings.ToLower(c.Email)] = id
	}
	s.addActivity(a, id, "CONTACT_UPDATED", "Contact updated "+how+": "+strings.Join(changed, ", "), rec.c.UpdatedAt)
	return rec, nil
}

// remove deletes a contact and its timeline. Callers hold s.mu.
func (s *Server) remove(a *account, id string) *APIError {
	rec := a.contacts[id]
	if rec == nil {
		return notFound("contact")
	}
	delete(a.contacts, id)
	a.ordered = slices.DeleteFunc(a.ordered, func(r *record) bool { return r == rec })
	if rec.c.Email != "" {
		delete(a.emails, strings.ToLower(rec.c.Email))
	}
	delete(a.activities, id)
	return nil
}

// changedKeys names the top-level keys whose rendering differs (never values: the timeline
// should not copy personal data around).
func changedKeys(before, after Contact) []string {
	before.UpdatedAt, after.UpdatedAt = time.Time{}, time.Time{}
	var b, a map[string]json.RawMessage
	bj, _ := json.Marshal(before)
	aj, _ := json.Marshal(after)
	_ = json.Unmarshal(bj, &b)
	_ = json.Unmarshal(aj, &a)
	var out []string
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request, a *account) {
	page, perPage, e := pageParams(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	q := r.URL.Query()
	if v := q.Get("sort"); v != "" && v != "createdAt" {
		s.writeError(w, badRequest("ILLEGAL_ARGUMENT", "sort must be createdAt"))
		return
	}
	desc := false
	switch strings.ToLower(q.Get("order")) {
	case "", "asc":
	case "desc":
		desc = true
	default:
		s.writeError(w, badRequest("ILLEGAL_ARGUMENT", "order must be asc or desc"))
		return
	}
	email, phone := strings.ToLower(strings.TrimSpace(q.Get("email"))), digits(q.Get("phone"))
	hasPhone := q.Get("phone") != ""

	s.mu.Lock()
	matched := make([]*record, 0, len(a.ordered))
	for _, rec := range a.ordered {
		if email != "" && strings.ToLower(rec.c.Email) != email {
			continue
		}
		if hasPhone && (phone == "" || digits(rec.c.Phone) != phone) {
			continue
		}
		matched = append(matched, rec)
	}
	if desc {
		slices.Reverse(matched)
	}
	lo, hi := window(len(matched), page, perPage)
	items := make([]any, 0, hi-lo)
	for _, rec := range matched[lo:hi] {
		items = append(items, s.view(a, rec))
	}
	s.mu.Unlock()
	s.writeList(w, items, len(matched), page)
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request, a *account) {
	s.mu.Lock()
	rec := a.contacts[r.PathValue("id")]
	var c Contact
	if rec != nil {
		c = s.view(a, rec)
	}
	s.mu.Unlock()
	if rec == nil {
		s.writeError(w, notFound("contact"))
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) createContact(w http.ResponseWriter, r *http.Request, a *account) {
	obj, e := readObject(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	s.mu.Lock()
	rec, e := s.insert(a, obj, true, "via API")
	var c Contact
	if e == nil {
		c = s.view(a, rec)
	}
	s.mu.Unlock()
	if e != nil {
		s.writeError(w, e)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) putContact(w http.ResponseWriter, r *http.Request, a *account) {
	obj, e := readObject(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	s.mu.Lock()
	rec, e := s.replace(a, r.PathValue("id"), obj, true, "via API")
	var c Contact
	if e == nil {
		c = s.view(a, rec)
	}
	s.mu.Unlock()
	if e != nil {
		s.writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) deleteContact(w http.ResponseWriter, r *http.Request, a *account) {
	s.mu.Lock()
	e := s.remove(a, r.PathValue("id"))
	s.mu.Unlock()
	if e != nil {
		s.writeError(w, e)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
