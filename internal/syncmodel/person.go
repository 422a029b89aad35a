package syncmodel

import (
	"strings"
	"time"
)

// Side names one of the two systems.
type Side string

// The two sides of a connection.
const (
	SideGHL Side = "ghl" // HighLevel
	SideRZ  Side = "rz"  // Referrizer
)

// Other returns the opposite side.
func (s Side) Other() Side {
	if s == SideGHL {
		return SideRZ
	}
	return SideGHL
}

// Canonical field names. They key SideChanges.Set, name fields in a mapping document and in
// conflicts. A custom field is named CustomPrefix + its canonical key, e.g. "custom.membership".
const (
	FieldFirstName = "firstName"
	FieldLastName  = "lastName"
	FieldEmail     = "email"
	FieldPhone     = "phone"
	FieldDND       = "dnd"
	FieldTags      = "tags"
	CustomPrefix   = "custom."
)

// builtinFields are the scalar fields every Person has, in the order plans list them.
var builtinFields = []string{FieldFirstName, FieldLastName, FieldEmail, FieldPhone, FieldDND}

// Person is one side's view of a person, in canonical field names.
//
// Mapping to the raw APIs (done by activities, documented here so both directions agree):
//   - HighLevel: firstName, lastName, email, phone, dnd (the contact-wide flag; per-channel
//     dndSettings are not synced), tags, customFields[{id,value}] via Mapping.CustomFields,
//     source, dateUpdated → UpdatedAt.
//   - Referrizer: firstName, lastName, email, phone, labels → Tags, customFields by name via
//     Mapping.CustomFields. DND reads as unsubscribedFromText && unsubscribedFromEmail;
//     writing DND=true sets both flags, DND=false clears both. Because only changed fields
//     move, a contact unsubscribed from one channel only (DND reads false) is never written
//     false unless HighLevel's DND itself changed from true to false. UpdatedAt is zero when
//     Referrizer does not return it (see ConflictPolicy NewestWins for the tie-break).
type Person struct {
	FirstName string `json:"firstName,omitempty"`
	LastName  string `json:"lastName,omitempty"`
	// Email is stored as written (trimmed); it is compared and matched lower-cased.
	Email string `json:"email,omitempty"`
	// Phone is E.164 when it parses in the mapping's default region, else as written.
	Phone string `json:"phone,omitempty"`
	// DND is "do not disturb": HighLevel dnd, or Referrizer unsubscribed from text and e-mail.
	DND bool `json:"dnd,omitempty"`
	// Tags are HighLevel tags or Referrizer labels, compared case-insensitively.
	Tags []string `json:"tags,omitempty"`
	// Custom maps a canonical custom field key (Mapping.CustomFields) to its value; a missing
	// key and an empty value mean the same.
	Custom map[string]string `json:"custom,omitempty"`
	// Source is HighLevel's contact source, read-only: it is never synced, only seen by rules.
	Source string `json:"source,omitempty"`
	// UpdatedAt is when the side last changed the person; zero if unknown.
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// Note is a HighLevel note. Body may contain HTML.
type Note struct {
	ID        string    `json:"id"`
	Body      string    `json:"body,omitempty"`
	DateAdded time.Time `json:"dateAdded,omitzero"`
}

// Task is a HighLevel task.
type Task struct {
	ID        string    `json:"id"`
	Title     string    `json:"title,omitempty"`
	Body      string    `json:"body,omitempty"`
	DueDate   time.Time `json:"dueDate,omitzero"`
	Completed bool      `json:"completed,omitempty"`
	// CompletedAt is when the task was completed; zero if unknown (HighLevel does not say;
	// activities may pass dateUpdated). The tasks digest then ages the task from DueDate.
	CompletedAt time.Time `json:"completedAt,omitzero"`
}

// Appointment is a HighLevel appointment, for rules such as "a showed appointment records a
// Referrizer visit".
type Appointment struct {
	ID        string    `json:"id"`
	Title     string    `json:"title,omitempty"`
	Status    string    `json:"status,omitempty"` // HighLevel appointmentStatus, e.g. "showed"
	StartTime time.Time `json:"startTime,omitzero"`
}

// Normalize returns p with names, e-mail, source and custom values trimmed, the phone in
// E.164 (m's default region) when it parses, tags trimmed, de-duplicated case-insensitively
// and sorted, empty custom values dropped, and UpdatedAt in UTC. It is idempotent.
func (m *Mapping) Normalize(p Person) Person {
	out := Person{
		FirstName: strings.TrimSpace(p.FirstName),
		LastName:  strings.TrimSpace(p.LastName),
		Email:     strings.TrimSpace(p.Email),
		Phone:     NormalizePhone(p.Phone, m.region),
		DND:       p.DND,
		Tags:      canonicalTags(p.Tags),
		Source:    strings.TrimSpace(p.Source),
		UpdatedAt: p.UpdatedAt.UTC(),
	}
	if p.UpdatedAt.IsZero() {
		out.UpdatedAt = time.Time{}
	}
	for k, v := range p.Custom {
		if v = strings.TrimSpace(v); v != "" {
			if out.Custom == nil {
				out.Custom = map[string]string{}
			}
			out.Custom[k] = v
		}
	}
	return out
}

// get returns a scalar field as a string; DND is "true" or "false".
func (p *Person) get(field string) string {
	switch field {
	case FieldFirstName:
		return p.FirstName
	case FieldLastName:
		return p.LastName
	case FieldEmail:
		return p.Email
	case FieldPhone:
		return p.Phone
	case FieldDND:
		if p.DND {
			return "true"
		}
		return "false"
	}
	if key, ok := strings.CutPrefix(field, CustomPrefix); ok {
		return p.Custom[key]
	}
	return ""
}

// set writes a scalar field; unknown names are ignored (only plans produce names).
func (p *Person) set(field, v string) {
	switch field {
	case FieldFirstName:
		p.FirstName = v
	case FieldLastName:
		p.LastName = v
	case FieldEmail:
		p.Email = v
	case FieldPhone:
		p.Phone = v
	case FieldDND:
		p.DND = v == "true"
	default:
		key, ok := strings.CutPrefix(field, CustomPrefix)
		if !ok {
			return
		}
		if v == "" {
			delete(p.Custom, key)
			if len(p.Custom) == 0 {
				p.Custom = nil
			}
			return
		}
		if p.Custom == nil {
			p.Custom = map[string]string{}
		}
		p.Custom[key] = v
	}
}

// isEmpty says whether a field value counts as "not set": DND false is "not set", so a first
// sync lets DND=true fill the other side (opting out wins) instead of raising a conflict.
func isEmpty(field, v string) bool {
	return v == "" || (field == FieldDND && v == "false")
}

// sameValue compares two values of a field the way matching does: e-mail case-insensitively,
// everything else exactly.
func sameValue(field, a, b string) bool {
	if field == FieldEmail {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// normalizeValue normalizes one field value (used on transform output).
func (m *Mapping) normalizeValue(field, v string) string {
	if field == FieldPhone {
		return NormalizePhone(v, m.region)
	}
	return strings.TrimSpace(v)
}
