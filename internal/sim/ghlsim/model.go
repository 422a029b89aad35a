package ghlsim

import (
	"encoding/json"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The simulator keeps its own model and wire format instead of reusing package ghl's types,
// so a mistake in the client's JSON tags cannot be mirrored here and go unnoticed.

// isoMillis is how HighLevel writes timestamps.
const isoMillis = "2006-01-02T15:04:05.000Z"

func iso(t time.Time) string { return t.UTC().Format(isoMillis) }

// DNDSetting is one channel's do-not-disturb state.
type DNDSetting struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	Code    string `json:"code,omitempty"`
}

// CustomFieldValue is a custom field value on a contact.
type CustomFieldValue struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// Contact is a contact as the simulator stores it.
type Contact struct {
	ID           string                `json:"id"`
	LocationID   string                `json:"locationId"`
	FirstName    string                `json:"firstName,omitempty"`
	LastName     string                `json:"lastName,omitempty"`
	Email        string                `json:"email,omitempty"`
	Phone        string                `json:"phone,omitempty"`
	CompanyName  string                `json:"companyName,omitempty"`
	Address1     string                `json:"address1,omitempty"`
	City         string                `json:"city,omitempty"`
	State        string                `json:"state,omitempty"`
	PostalCode   string                `json:"postalCode,omitempty"`
	Country      string                `json:"country,omitempty"`
	Website      string                `json:"website,omitempty"`
	Timezone     string                `json:"timezone,omitempty"`
	Source       string                `json:"source,omitempty"`
	AssignedTo   string                `json:"assignedTo,omitempty"`
	DateOfBirth  string                `json:"dateOfBirth,omitempty"`
	BusinessID   string                `json:"businessId,omitempty"`
	DND          bool                  `json:"dnd"`
	DNDSettings  map[string]DNDSetting `json:"dndSettings,omitempty"`
	Tags         []string              `json:"tags"`
	CustomFields []CustomFieldValue    `json:"customFields,omitempty"`
	DateAdded    time.Time             `json:"dateAdded"`
	DateUpdated  time.Time             `json:"dateUpdated"`
}

// Name is HighLevel's display name.
func (c *Contact) Name() string { return strings.TrimSpace(c.FirstName + " " + c.LastName) }

func (c *Contact) clone() Contact {
	out := *c
	out.Tags = slices.Clone(c.Tags)
	out.CustomFields = slices.Clone(c.CustomFields)
	out.DNDSettings = maps.Clone(c.DNDSettings)
	return out
}

// ContactPatch changes a contact; nil fields stay as they are. Name, when set without
// FirstName and LastName, is split into them.
type ContactPatch struct {
	FirstName    *string               `json:"firstName,omitempty"`
	LastName     *string               `json:"lastName,omitempty"`
	Name         *string               `json:"name,omitempty"`
	Email        *string               `json:"email,omitempty"`
	Phone        *string               `json:"phone,omitempty"`
	CompanyName  *string               `json:"companyName,omitempty"`
	Address1     *string               `json:"address1,omitempty"`
	City         *string               `json:"city,omitempty"`
	State        *string               `json:"state,omitempty"`
	PostalCode   *string               `json:"postalCode,omitempty"`
	Country      *string               `json:"country,omitempty"`
	Website      *string               `json:"website,omitempty"`
	Timezone     *string               `json:"timezone,omitempty"`
	Source       *string               `json:"source,omitempty"`
	AssignedTo   *string               `json:"assignedTo,omitempty"`
	DateOfBirth  *string               `json:"dateOfBirth,omitempty"`
	BusinessID   *string               `json:"businessId,omitempty"`
	DND          *bool                 `json:"dnd,omitempty"`
	DNDSettings  map[string]DNDSetting `json:"dndSettings,omitempty"`
	Tags         *[]string             `json:"tags,omitempty"` // replaces all tags
	CustomFields []CustomFieldInput    `json:"customFields,omitempty"`
}

// CustomFieldInput sets a custom field; HighLevel's DTO calls the value field_value, older
// clients send value.
type CustomFieldInput struct {
	ID         string          `json:"id,omitempty"`
	Key        string          `json:"key,omitempty"`
	FieldValue json.RawMessage `json:"field_value,omitempty"`
	Value      json.RawMessage `json:"value,omitempty"`
}

func (p ContactPatch) fromContact(c Contact) ContactPatch {
	set := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	p.FirstName, p.LastName, p.Email, p.Phone = set(c.FirstName), set(c.LastName), set(c.Email), set(c.Phone)
	p.CompanyName, p.Address1, p.City, p.State = set(c.CompanyName), set(c.Address1), set(c.City), set(c.State)
	p.PostalCode, p.Country, p.Website, p.Timezone = set(c.PostalCode), set(c.Country), set(c.Website), set(c.Timezone)
	p.Source, p.AssignedTo, p.DateOfBirth, p.BusinessID = set(c.Source), set(c.AssignedTo), set(c.DateOfBirth), set(c.BusinessID)
	if c.DND {
		p.DND = &c.DND
	}
	p.DNDSettings = c.DNDSettings
	if c.Tags != nil {
		tags := c.Tags
		p.Tags = &tags
	}
	for _, cf := range c.CustomFields {
		raw, _ := json.Marshal(cf.Value)
		p.CustomFields = append(p.CustomFields, CustomFieldInput{ID: cf.ID, FieldValue: raw})
	}
	return p
}

var emailRe = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)

// validate checks a patch the way HighLevel's DTO validation does; messages are HighLevel's.
func (p ContactPatch) validate() []string {
	var msgs []string
	if p.Email != nil && *p.Email != "" && !emailRe.MatchString(strings.TrimSpace(*p.Email)) {
		msgs = append(msgs, "email must be an email")
	}
	if p.Phone != nil && *p.Phone != "" && normalizePhone(*p.Phone) == "" {
		msgs = append(msgs, "phone must be a valid phone number")
	}
	for ch, s := range p.DNDSettings {
		switch s.Status {
		case "active", "inactive", "permanent":
		default:
			msgs = append(msgs, "dndSettings."+ch+".status must be one of the following values: active, inactive, permanent")
		}
	}
	return msgs
}

// changes says which webhook-relevant parts of a contact an apply touched.
type changes struct{ fields, tags, dnd bool }

func (ch changes) any() bool { return ch.fields || ch.tags || ch.dnd }

// apply changes c; resolveKey maps a custom field key to its id.
func (c *Contact) apply(p ContactPatch, resolveKey func(string) string) changes {
	var ch changes
	str := func(dst *string, v *string, norm func(string) string) {
		if v == nil {
			return
		}
		n := strings.TrimSpace(*v)
		if norm != nil {
			n = norm(n)
		}
		if *dst != n {
			*dst, ch.fields = n, true
		}
	}
	if p.Name != nil && p.FirstName == nil && p.LastName == nil {
		first, last, _ := strings.Cut(strings.TrimSpace(*p.Name), " ")
		last = strings.TrimSpace(last)
		p.FirstName, p.LastName = &first, &last
	}
	str(&c.FirstName, p.FirstName, nil)
	str(&c.LastName, p.LastName, nil)
	str(&c.Email, p.Email, nil)
	str(&c.Phone, p.Phone, normalizePhone)
	str(&c.CompanyName, p.CompanyName, nil)
	str(&c.Address1, p.Address1, nil)
	str(&c.City, p.City, nil)
	str(&c.State, p.State, nil)
	str(&c.PostalCode, p.PostalCode, nil)
	str(&c.Country, p.Country, nil)
	str(&c.Website, p.Website, nil)
	str(&c.Timezone, p.Timezone, nil)
	str(&c.Source, p.Source, nil)
	str(&c.AssignedTo, p.AssignedTo, nil)
	str(&c.DateOfBirth, p.DateOfBirth, nil)
	str(&c.BusinessID, p.BusinessID, nil)
	if p.DND != nil && *p.DND != c.DND {
		c.DND, ch.dnd = *p.DND, true
	}
	if p.DNDSettings != nil {
		next := maps.Clone(c.DNDSettings)
		if next == nil {
			next = map[string]DNDSetting{}
		}
		maps.Copy(next, p.DNDSettings)
		if !reflect.DeepEqual(next, c.DNDSettings) {
			c.DNDSettings, ch.dnd = next, true
		}
	}
	if p.Tags != nil {
		if next := normalizeTags(*p.Tags); !slices.Equal(next, c.Tags) {
			c.Tags, ch.tags = next, true
		}
	}
	for _, in := range p.CustomFields {
		id := in.ID
		if id == "" && in.Key != "" {
			id = resolveKey(in.Key)
		}
		if id == "" {
			continue
		}
		raw := in.FieldValue
		if len(raw) == 0 {
			raw = in.Value
		}
		var v any
		_ = json.Unmarshal(raw, &v)
		i := slices.IndexFunc(c.CustomFields, func(f CustomFieldValue) bool { return f.ID == id })
		switch {
		case v == nil || v == "":
			if i >= 0 {
				c.CustomFields, ch.fields = slices.Delete(c.CustomFields, i, i+1), true
			}
		case i < 0:
			c.CustomFields, ch.fields = append(c.CustomFields, CustomFieldValue{ID: id, Value: v}), true
		case !reflect.DeepEqual(c.CustomFields[i].Value, v):
			c.CustomFields[i].Value, ch.fields = v, true
		}
	}
	return ch
}

// normalizeTags lower-cases, trims and de-duplicates tags, keeping first-seen order, as
// HighLevel does.
func normalizeTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// normalizePhone turns a phone number into E.164 the way HighLevel does for a US location:
// ten digits get +1. It returns "" for something that is not a phone number.
func normalizePhone(p string) string {
	p = strings.TrimSpace(p)
	if p == "" {
		return ""
	}
	plus := strings.HasPrefix(p, "+")
	var d strings.Builder
	for _, r := range p {
		switch {
		case r >= '0' && r <= '9':
			d.WriteRune(r)
		case strings.ContainsRune(" ()-.+", r):
		default:
			return ""
		}
	}
	digits := d.String()
	if len(digits) < 7 || len(digits) > 15 {
		return ""
	}
	if !plus && len(digits) == 10 {
		return "+1" + digits
	}
	return "+" + digits
}

// Task is a contact's task.
type Task struct {
	ID          string    `json:"id"`
	LocationID  string    `json:"locationId"`
	ContactID   string    `json:"contactId"`
	Title       string    `json:"title"`
	Body        string    `json:"body,omitempty"`
	AssignedTo  string    `json:"assignedTo,omitempty"`
	DueDate     time.Time `json:"dueDate"`
	Completed   bool      `json:"completed"`
	DateAdded   time.Time `json:"dateAdded"`
	DateUpdated time.Time `json:"dateUpdated"`
}

// TaskPatch changes a task; nil fields stay as they are.
type TaskPatch struct {
	Title      *string    `json:"title,omitempty"`
	Body       *string    `json:"body,omitempty"`
	AssignedTo *string    `json:"assignedTo,omitempty"`
	DueDate    *time.Time `json:"dueDate,omitempty"`
	Completed  *bool      `json:"completed,omitempty"`
}

// Note is a note on a contact.
type Note struct {
	ID          string    `json:"id"`
	LocationID  string    `json:"locationId"`
	ContactID   string    `json:"contactId"`
	Body        string    `json:"body"`
	UserID      string    `json:"userId,omitempty"`
	Title       string    `json:"title,omitempty"`
	Color       string    `json:"color,omitempty"`
	Pinned      bool      `json:"pinned,omitempty"`
	DateAdded   time.Time `json:"dateAdded"`
	DateUpdated time.Time `json:"dateUpdated"`
}

// NotePatch changes a note; nil fields stay as they are.
type NotePatch struct {
	Body   *string `json:"body,omitempty"`
	UserID *string `json:"userId,omitempty"`
	Title  *string `json:"title,omitempty"`
	Color  *string `json:"color,omitempty"`
	Pinned *bool   `json:"pinned,omitempty"`
}

func (n *Note) apply(p NotePatch) bool {
	before := *n
	set := func(dst, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&n.Body, p.Body)
	set(&n.UserID, p.UserID)
	set(&n.Title, p.Title)
	set(&n.Color, p.Color)
	if p.Pinned != nil {
		n.Pinned = *p.Pinned
	}
	return *n != before
}

// Appointment is a calendar event of a contact.
type Appointment struct {
	ID             string    `json:"id"`
	LocationID     string    `json:"locationId"`
	ContactID      string    `json:"contactId"`
	CalendarID     string    `json:"calendarId,omitempty"`
	GroupID        string    `json:"groupId,omitempty"`
	Title          string    `json:"title,omitempty"`
	Status         string    `json:"appointmentStatus,omitempty"` // e.g. "confirmed", "cancelled"
	AssignedUserID string    `json:"assignedUserId,omitempty"`
	Users          []string  `json:"users,omitempty"`
	Notes          string    `json:"notes,omitempty"`
	Address        string    `json:"address,omitempty"`
	Source         string    `json:"source,omitempty"`
	StartTime      time.Time `json:"startTime"`
	EndTime        time.Time `json:"endTime"`
	DateAdded      time.Time `json:"dateAdded"`
	DateUpdated    time.Time `json:"dateUpdated"`
}

// CustomField is a location's custom field definition.
type CustomField struct {
	ID              string   `json:"id"`
	LocationID      string   `json:"locationId"`
	Name            string   `json:"name"`
	FieldKey        string   `json:"fieldKey"` // "contact.<name>"
	DataType        string   `json:"dataType"` // e.g. "TEXT"
	Model           string   `json:"model"`    // "contact" or "opportunity"
	Placeholder     string   `json:"placeholder,omitempty"`
	Position        int      `json:"position"`
	PicklistOptions []string `json:"picklistOptions,omitempty"`
}

// ---- wire format (what the API and the webhooks send) ----

type obj = map[string]any

func putStr(m obj, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func (c *Contact) wire() obj {
	tags := c.Tags
	if tags == nil {
		tags = []string{}
	}
	cfs := make([]obj, 0, len(c.CustomFields))
	for _, f := range c.CustomFields {
		cfs = append(cfs, obj{"id": f.ID, "value": f.Value})
	}
	m := obj{
		"id": c.ID, "locationId": c.LocationID, "type": "lead", "dnd": c.DND, "tags": tags, "customFields": cfs,
		"dateAdded": iso(c.DateAdded), "dateUpdated": iso(c.DateUpdated),
	}
	for k, v := range map[string]string{
		"firstName": c.FirstName, "lastName": c.LastName, "email": c.Email, "phone": c.Phone,
		"companyName": c.CompanyName, "address1": c.Address1, "city": c.City, "state": c.State,
		"postalCode": c.PostalCode, "country": c.Country, "website": c.Website, "timezone": c.Timezone,
		"source": c.Source, "assignedTo": c.AssignedTo, "dateOfBirth": c.DateOfBirth, "businessId": c.BusinessID,
		"name": c.Name(), "firstNameLowerCase": strings.ToLower(c.FirstName), "lastNameLowerCase": strings.ToLower(c.LastName),
		"fullNameLowerCase": strings.ToLower(c.Name()), "emailLowerCase": strings.ToLower(c.Email),
	} {
		putStr(m, k, v)
	}
	if len(c.DNDSettings) > 0 {
		m["dndSettings"] = c.DNDSettings
	}
	return m
}

// event is the contact as the Contact* webhooks carry it (docs/webhook-events).
func (c *Contact) event(typ string) obj {
	tags := c.Tags
	if tags == nil {
		tags = []string{}
	}
	cfs := make([]obj, 0, len(c.CustomFields))
	for _, f := range c.CustomFields {
		cfs = append(cfs, obj{"id": f.ID, "value": f.Value})
	}
	m := obj{"type": typ, "locationId": c.LocationID, "id": c.ID, "dateAdded": iso(c.DateAdded), "dnd": c.DND,
		"tags": tags, "attachments": []any{}, "customFields": cfs}
	for k, v := range map[string]string{
		"address1": c.Address1, "city": c.City, "state": c.State, "companyName": c.CompanyName, "country": c.Country,
		"source": c.Source, "dateOfBirth": c.DateOfBirth, "email": c.Email, "name": c.Name(), "firstName": c.FirstName,
		"lastName": c.LastName, "phone": c.Phone, "postalCode": c.PostalCode, "website": c.Website, "assignedTo": c.AssignedTo,
	} {
		putStr(m, k, v)
	}
	if typ == "ContactDndUpdate" {
		m["dndSettings"] = c.DNDSettings
		if c.DNDSettings == nil {
			m["dndSettings"] = obj{}
		}
	}
	return m
}

func (t *Task) wire() obj {
	m := obj{"id": t.ID, "title": t.Title, "dueDate": iso(t.DueDate), "completed": t.Completed, "contactId": t.ContactID,
		"dateAdded": iso(t.DateAdded), "dateUpdated": iso(t.DateUpdated)}
	putStr(m, "body", t.Body)
	putStr(m, "assignedTo", t.AssignedTo)
	return m
}

func (t *Task) event(typ string, withContact bool) obj {
	m := obj{"type": typ, "locationId": t.LocationID, "id": t.ID, "title": t.Title, "dateAdded": iso(t.DateAdded), "dueDate": iso(t.DueDate)}
	putStr(m, "body", t.Body)
	putStr(m, "assignedTo", t.AssignedTo)
	if withContact {
		m["contactId"] = t.ContactID
	}
	return m
}

func (n *Note) wire() obj {
	m := obj{"id": n.ID, "body": n.Body, "contactId": n.ContactID, "dateAdded": iso(n.DateAdded), "pinned": n.Pinned}
	putStr(m, "userId", n.UserID)
	putStr(m, "title", n.Title)
	putStr(m, "color", n.Color)
	return m
}

// event carries only what HighLevel's note events carry.
func (n *Note) event(typ string) obj {
	return obj{"type": typ, "locationId": n.LocationID, "id": n.ID, "body": n.Body, "contactId": n.ContactID, "dateAdded": iso(n.DateAdded)}
}

func (a *Appointment) wire() obj {
	m := obj{"id": a.ID, "locationId": a.LocationID, "contactId": a.ContactID, "startTime": iso(a.StartTime), "endTime": iso(a.EndTime),
		"dateAdded": iso(a.DateAdded), "dateUpdated": iso(a.DateUpdated)}
	for k, v := range map[string]string{"calendarId": a.CalendarID, "groupId": a.GroupID, "title": a.Title, "status": a.Status,
		"appointmentStatus": a.Status, "assignedUserId": a.AssignedUserID, "notes": a.Notes, "address": a.Address} {
		putStr(m, k, v)
	}
	if len(a.Users) > 0 {
		m["users"] = a.Users
	}
	return m
}

func (a *Appointment) event(typ string) obj {
	ap := a.wire()
	delete(ap, "status")
	delete(ap, "locationId")
	putStr(ap, "source", a.Source)
	return obj{"type": typ, "locationId": a.LocationID, "appointment": ap}
}

func (f *CustomField) wire() obj {
	m := obj{"id": f.ID, "name": f.Name, "fieldKey": f.FieldKey, "dataType": f.DataType, "position": f.Position,
		"locationId": f.LocationID, "model": f.Model}
	putStr(m, "placeholder", f.Placeholder)
	if len(f.PicklistOptions) > 0 {
		m["picklistOptions"] = f.PicklistOptions
	}
	return m
}
