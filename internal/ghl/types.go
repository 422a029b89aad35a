package ghl

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Time is a HighLevel timestamp. HighLevel writes ISO 8601 with milliseconds in most places,
// "2006-01-02 15:04:05" in appointment examples, and epoch milliseconds in cursors; decoding
// accepts all of them and turns anything else (including "" and null) into the zero time
// rather than failing a whole page over one field.
type Time struct{ time.Time }

// TimeLayout is how Time is encoded: what HighLevel sends.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.000Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

// ParseTime parses the formats HighLevel uses; ok is false for anything else.
func ParseTime(s string) (t time.Time, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	return time.Time{}, false
}

// MarshalJSON writes ISO 8601 in UTC with milliseconds, or null for the zero time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format(TimeLayout) + `"`), nil
}

// UnmarshalJSON accepts strings in any HighLevel format and epoch milliseconds.
func (t *Time) UnmarshalJSON(b []byte) error {
	t.Time = time.Time{}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] == 'n' {
		return nil
	}
	if b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) == nil {
			t.Time, _ = ParseTime(s)
		}
		return nil
	}
	if f, err := strconv.ParseFloat(string(b), 64); err == nil && f > 0 && f < 1e15 {
		t.Time = time.UnixMilli(int64(f)).UTC()
	}
	return nil
}

// DNDSetting is one channel's do-not-disturb state.
type DNDSetting struct {
	Status  string `json:"status"` // "active", "inactive" or "permanent"
	Message string `json:"message,omitempty"`
	Code    string `json:"code,omitempty"`
}

// CustomFieldValue is a custom field as HighLevel returns it on a contact. Value is a string,
// number, list or object depending on the field's data type.
type CustomFieldValue struct {
	ID    string `json:"id"`
	Value any    `json:"value,omitempty"`
}

// CustomFieldInput sets a custom field on create, update or upsert. HighLevel's DTO requires
// ID; Key (e.g. "contact.pincode") may accompany it. Value is a string, number or list of
// strings; "" clears the field.
type CustomFieldInput struct {
	ID    string `json:"id"`
	Key   string `json:"key,omitempty"`
	Value any    `json:"field_value"`
}

// Contact is a HighLevel contact as the API returns it.
type Contact struct {
	ID           string                `json:"id"`
	LocationID   string                `json:"locationId,omitempty"`
	FirstName    string                `json:"firstName,omitempty"`
	LastName     string                `json:"lastName,omitempty"`
	Name         string                `json:"name,omitempty"`
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
	Type         string                `json:"type,omitempty"`
	AssignedTo   string                `json:"assignedTo,omitempty"`
	DateOfBirth  string                `json:"dateOfBirth,omitempty"`
	BusinessID   string                `json:"businessId,omitempty"`
	DND          bool                  `json:"dnd,omitempty"`
	DNDSettings  map[string]DNDSetting `json:"dndSettings,omitempty"`
	Tags         []string              `json:"tags,omitempty"`
	CustomFields []CustomFieldValue    `json:"customFields,omitempty"`
	DateAdded    Time                  `json:"dateAdded,omitzero"`
	DateUpdated  Time                  `json:"dateUpdated,omitzero"`
}

// ContactInput is the body of create, update and upsert. Nil fields are not sent, so an
// update changes only what is set; point a field at "" to clear it.
type ContactInput struct {
	FirstName   *string               `json:"firstName,omitempty"`
	LastName    *string               `json:"lastName,omitempty"`
	Name        *string               `json:"name,omitempty"`
	Email       *string               `json:"email,omitempty"`
	Phone       *string               `json:"phone,omitempty"`
	CompanyName *string               `json:"companyName,omitempty"` // create and upsert only: UpdateContactDto has none
	Address1    *string               `json:"address1,omitempty"`
	City        *string               `json:"city,omitempty"`
	State       *string               `json:"state,omitempty"`
	PostalCode  *string               `json:"postalCode,omitempty"`
	Country     *string               `json:"country,omitempty"`
	Website     *string               `json:"website,omitempty"`
	Timezone    *string               `json:"timezone,omitempty"`
	Source      *string               `json:"source,omitempty"`
	AssignedTo  *string               `json:"assignedTo,omitempty"`
	DateOfBirth *string               `json:"dateOfBirth,omitempty"` // e.g. "1990-09-25"
	DND         *bool                 `json:"dnd,omitempty"`
	DNDSettings map[string]DNDSetting `json:"dndSettings,omitempty"`
	// Tags replaces all of the contact's tags; prefer AddTags and RemoveTags on update.
	Tags         []string           `json:"tags,omitempty"`
	CustomFields []CustomFieldInput `json:"customFields,omitempty"`
}

// Task is a contact's task.
type Task struct {
	ID          string `json:"id"`
	ContactID   string `json:"contactId,omitempty"`
	Title       string `json:"title,omitempty"`
	Body        string `json:"body,omitempty"`
	AssignedTo  string `json:"assignedTo,omitempty"`
	DueDate     Time   `json:"dueDate,omitzero"`
	Completed   bool   `json:"completed"`
	DateAdded   Time   `json:"dateAdded,omitzero"`
	DateUpdated Time   `json:"dateUpdated,omitzero"`
}

// NewTask is the body of CreateTask; HighLevel requires title, dueDate and completed.
type NewTask struct {
	Title      string    `json:"title"`
	Body       string    `json:"body,omitempty"`
	DueDate    time.Time `json:"-"`
	Completed  bool      `json:"completed"`
	AssignedTo string    `json:"assignedTo,omitempty"`
}

// MarshalJSON writes dueDate in the ISO form HighLevel documents.
func (t NewTask) MarshalJSON() ([]byte, error) {
	type plain NewTask
	return json.Marshal(struct {
		plain
		DueDate string `json:"dueDate"`
	}{plain(t), t.DueDate.UTC().Format(time.RFC3339)})
}

// TaskUpdate is the body of UpdateTask; nil fields are not sent.
type TaskUpdate struct {
	Title      *string    `json:"title,omitempty"`
	Body       *string    `json:"body,omitempty"`
	DueDate    *time.Time `json:"-"`
	Completed  *bool      `json:"completed,omitempty"`
	AssignedTo *string    `json:"assignedTo,omitempty"`
}

// MarshalJSON writes dueDate in the ISO form HighLevel documents.
func (t TaskUpdate) MarshalJSON() ([]byte, error) {
	type plain TaskUpdate
	var due string
	if t.DueDate != nil {
		due = t.DueDate.UTC().Format(time.RFC3339)
	}
	return json.Marshal(struct {
		plain
		DueDate string `json:"dueDate,omitempty"`
	}{plain(t), due})
}

// Note is a note on a contact.
type Note struct {
	ID        string `json:"id"`
	ContactID string `json:"contactId,omitempty"`
	Body      string `json:"body"`
	UserID    string `json:"userId,omitempty"`
	Title     string `json:"title,omitempty"`
	Color     string `json:"color,omitempty"`
	Pinned    bool   `json:"pinned,omitempty"`
	DateAdded Time   `json:"dateAdded,omitzero"`
}

// NewNote is the body of CreateNote.
type NewNote struct {
	Body   string `json:"body"`
	UserID string `json:"userId,omitempty"`
	Title  string `json:"title,omitempty"`
	Color  string `json:"color,omitempty"`
	Pinned *bool  `json:"pinned,omitempty"`
}

// NoteUpdate is the body of UpdateNote; nil fields are not sent.
type NoteUpdate struct {
	Body   *string `json:"body,omitempty"`
	UserID *string `json:"userId,omitempty"`
	Title  *string `json:"title,omitempty"`
	Color  *string `json:"color,omitempty"`
	Pinned *bool   `json:"pinned,omitempty"`
}

// Appointment is a calendar event of a contact, as the API and the Appointment* webhooks
// describe it.
type Appointment struct {
	ID                string   `json:"id"`
	LocationID        string   `json:"locationId,omitempty"`
	ContactID         string   `json:"contactId,omitempty"`
	CalendarID        string   `json:"calendarId,omitempty"`
	GroupID           string   `json:"groupId,omitempty"`
	Title             string   `json:"title,omitempty"`
	Status            string   `json:"status,omitempty"`
	AppointmentStatus string   `json:"appointmentStatus,omitempty"`
	AssignedUserID    string   `json:"assignedUserId,omitempty"`
	Users             []string `json:"users,omitempty"`
	Notes             string   `json:"notes,omitempty"`
	Address           string   `json:"address,omitempty"`
	Source            string   `json:"source,omitempty"`
	StartTime         Time     `json:"startTime,omitzero"`
	EndTime           Time     `json:"endTime,omitzero"`
	DateAdded         Time     `json:"dateAdded,omitzero"`
	DateUpdated       Time     `json:"dateUpdated,omitzero"`
}

// CustomField is a location's custom field definition.
type CustomField struct {
	ID              string   `json:"id"`
	Name            string   `json:"name,omitempty"`
	FieldKey        string   `json:"fieldKey,omitempty"` // e.g. "contact.pincode"
	Placeholder     string   `json:"placeholder,omitempty"`
	DataType        string   `json:"dataType,omitempty"` // e.g. "TEXT", "NUMERICAL", "CHECKBOX"
	Position        float64  `json:"position,omitempty"`
	PicklistOptions []string `json:"picklistOptions,omitempty"`
	Model           string   `json:"model,omitempty"` // "contact" or "opportunity"
	LocationID      string   `json:"locationId,omitempty"`
}
