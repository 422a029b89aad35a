package ghl

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhook event types, as Envelope.Type reports them.
const (
	EventContactCreate     = "ContactCreate"
	EventContactUpdate     = "ContactUpdate"
	EventContactDelete     = "ContactDelete"
	EventContactTagUpdate  = "ContactTagUpdate"
	EventContactDndUpdate  = "ContactDndUpdate"
	EventNoteCreate        = "NoteCreate"
	EventNoteUpdate        = "NoteUpdate"
	EventNoteDelete        = "NoteDelete"
	EventTaskCreate        = "TaskCreate"
	EventTaskComplete      = "TaskComplete"
	EventTaskDelete        = "TaskDelete"
	EventAppointmentCreate = "AppointmentCreate"
	EventAppointmentUpdate = "AppointmentUpdate"
	EventAppointmentDelete = "AppointmentDelete"
	// The install events arrive with type "INSTALL" / "UNINSTALL" (docs/webhook-events);
	// DecodeWebhook reports them under these names and keeps the original in RawType.
	EventAppInstall   = "AppInstall"
	EventAppUninstall = "AppUninstall"
)

// ContactEvent is the payload of ContactCreate, ContactUpdate, ContactDelete,
// ContactTagUpdate and ContactDndUpdate (which alone carries DNDSettings).
type ContactEvent struct {
	ID           string                `json:"id"`
	LocationID   string                `json:"locationId"`
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
	Source       string                `json:"source,omitempty"`
	AssignedTo   string                `json:"assignedTo,omitempty"`
	DateOfBirth  string                `json:"dateOfBirth,omitempty"`
	DND          bool                  `json:"dnd,omitempty"`
	DNDSettings  map[string]DNDSetting `json:"dndSettings,omitempty"`
	Tags         []string              `json:"tags,omitempty"`
	CustomFields []CustomFieldValue    `json:"customFields,omitempty"`
	DateAdded    Time                  `json:"dateAdded,omitzero"`
}

// Contact is the contact as the event states it (DateUpdated is not in the payload: zero).
func (e *ContactEvent) Contact() Contact {
	return Contact{
		ID: e.ID, LocationID: e.LocationID, FirstName: e.FirstName, LastName: e.LastName, Name: e.Name,
		Email: e.Email, Phone: e.Phone, CompanyName: e.CompanyName, Address1: e.Address1, City: e.City,
		State: e.State, PostalCode: e.PostalCode, Country: e.Country, Website: e.Website, Source: e.Source,
		AssignedTo: e.AssignedTo, DateOfBirth: e.DateOfBirth, DND: e.DND, DNDSettings: e.DNDSettings,
		Tags: e.Tags, CustomFields: e.CustomFields, DateAdded: e.DateAdded,
	}
}

// NoteEvent is the payload of NoteCreate, NoteUpdate and NoteDelete. HighLevel sends only
// these fields: re-read the note for the rest.
type NoteEvent struct {
	ID         string `json:"id"`
	LocationID string `json:"locationId"`
	ContactID  string `json:"contactId,omitempty"`
	Body       string `json:"body,omitempty"`
	DateAdded  Time   `json:"dateAdded,omitzero"`
}

// TaskEvent is the payload of TaskCreate, TaskComplete and TaskDelete. ContactID is
// sometimes missing from TaskCreate.
type TaskEvent struct {
	ID         string `json:"id"`
	LocationID string `json:"locationId"`
	ContactID  string `json:"contactId,omitempty"`
	AssignedTo string `json:"assignedTo,omitempty"`
	Title      string `json:"title,omitempty"`
	Body       string `json:"body,omitempty"`
	DueDate    Time   `json:"dueDate,omitzero"`
	DateAdded  Time   `json:"dateAdded,omitzero"`
}

// AppointmentEvent is the payload of AppointmentCreate, AppointmentUpdate and
// AppointmentDelete.
type AppointmentEvent struct {
	LocationID  string      `json:"locationId"`
	Appointment Appointment `json:"appointment"`
}

// AppInstallEvent is the payload of an app install. Agency-level installs have no
// LocationID; a bulk install by an agency names its locations in LocationIDs instead
// (ghl-facts.md §3); installs to future locations may lack CompanyID and UserID.
type AppInstallEvent struct {
	AppID               string   `json:"appId"`
	CompanyID           string   `json:"companyId,omitempty"`
	LocationID          string   `json:"locationId,omitempty"`
	LocationIDs         []string `json:"locationIds,omitempty"`
	UserID              string   `json:"userId,omitempty"`
	PlanID              string   `json:"planId,omitempty"`
	CompanyName         string   `json:"companyName,omitempty"`
	IsWhitelabelCompany bool     `json:"isWhitelabelCompany,omitempty"`
	Trial               struct {
		OnTrial        bool    `json:"onTrial,omitempty"`
		TrialDuration  float64 `json:"trialDuration,omitempty"`
		TrialStartDate Time    `json:"trialStartDate,omitzero"`
	} `json:"trial,omitzero"`
	WhitelabelDetails struct {
		Domain  string `json:"domain,omitempty"`
		LogoURL string `json:"logoUrl,omitempty"`
	} `json:"whitelabelDetails,omitzero"`
}

// AppUninstallEvent is the payload of an app uninstall.
type AppUninstallEvent struct {
	AppID      string `json:"appId"`
	CompanyID  string `json:"companyId,omitempty"`
	LocationID string `json:"locationId,omitempty"`
}

// Envelope is what every webhook shares, plus its typed payload.
type Envelope struct {
	Type       string    // normalized event type (Event* constants)
	RawType    string    // "type" as sent
	LocationID string    // empty for agency-level app events
	WebhookID  string    // dedupe key; delivery is at-least-once
	Timestamp  time.Time // zero when absent or unparseable
	ContactID  string    // the person the event is about, when the event names one
	ObjectID   string    // id of the contact, note, task or appointment
	// Payload is *ContactEvent, *NoteEvent, *TaskEvent, *AppointmentEvent,
	// *AppInstallEvent or *AppUninstallEvent; nil for event types this package does not know.
	Payload any
}

// ErrBadWebhook means a body is not a webhook at all (not a JSON object, or no type).
var ErrBadWebhook = errors.New("ghl: not a webhook payload")

// DecodeWebhook reads a webhook body. It is tolerant: a field of the wrong type is left
// empty instead of failing the event, unknown fields are ignored, and an unknown event type
// yields an Envelope with a nil Payload (and no error) so the caller can keep and count it.
func DecodeWebhook(body []byte) (Envelope, error) {
	var o fields
	if err := json.Unmarshal(body, &o); err != nil || o == nil {
		return Envelope{}, fmt.Errorf("%w: body is not a JSON object", ErrBadWebhook)
	}
	var rawType string
	_ = json.Unmarshal(o["type"], &rawType) // only a string names an event
	env := Envelope{RawType: strings.TrimSpace(rawType), LocationID: o.str("locationId"), WebhookID: o.str("webhookId")}
	if env.RawType == "" {
		return Envelope{}, fmt.Errorf("%w: no type", ErrBadWebhook)
	}
	env.Timestamp = o.time("timestamp")
	env.Type = env.RawType
	switch env.RawType {
	case "INSTALL":
		env.Type = EventAppInstall
	case "UNINSTALL":
		env.Type = EventAppUninstall
	}
	switch env.Type {
	case EventContactCreate, EventContactUpdate, EventContactDelete, EventContactTagUpdate, EventContactDndUpdate:
		p := o.contact()
		env.Payload, env.ObjectID, env.ContactID = p, p.ID, p.ID
	case EventNoteCreate, EventNoteUpdate, EventNoteDelete:
		p := &NoteEvent{ID: o.str("id"), LocationID: env.LocationID, ContactID: o.str("contactId"), Body: o.str("body"), DateAdded: Time{o.time("dateAdded")}}
		env.Payload, env.ObjectID, env.ContactID = p, p.ID, p.ContactID
	case EventTaskCreate, EventTaskComplete, EventTaskDelete:
		p := &TaskEvent{ID: o.str("id"), LocationID: env.LocationID, ContactID: o.str("contactId"), AssignedTo: o.str("assignedTo"),
			Title: o.str("title"), Body: o.str("body"), DueDate: Time{o.time("dueDate")}, DateAdded: Time{o.time("dateAdded")}}
		env.Payload, env.ObjectID, env.ContactID = p, p.ID, p.ContactID
	case EventAppointmentCreate, EventAppointmentUpdate, EventAppointmentDelete:
		a := o.obj("appointment")
		p := &AppointmentEvent{LocationID: env.LocationID, Appointment: a.appointment()}
		if p.Appointment.LocationID == "" {
			p.Appointment.LocationID = env.LocationID
		}
		env.Payload, env.ObjectID, env.ContactID = p, p.Appointment.ID, p.Appointment.ContactID
	case EventAppInstall:
		p := &AppInstallEvent{AppID: o.str("appId"), CompanyID: o.str("companyId"), LocationID: o.str("locationId"), LocationIDs: o.strs("locationIds"), UserID: o.str("userId"),
			PlanID: o.str("planId"), CompanyName: o.str("companyName"), IsWhitelabelCompany: o.boolean("isWhitelabelCompany")}
		tr := o.obj("trial")
		p.Trial.OnTrial, p.Trial.TrialDuration, p.Trial.TrialStartDate = tr.boolean("onTrial"), tr.num("trialDuration"), Time{tr.time("trialStartDate")}
		wl := o.obj("whitelabelDetails")
		p.WhitelabelDetails.Domain, p.WhitelabelDetails.LogoURL = wl.str("domain"), wl.str("logoUrl")
		env.Payload = p
	case EventAppUninstall:
		env.Payload = &AppUninstallEvent{AppID: o.str("appId"), CompanyID: o.str("companyId"), LocationID: o.str("locationId")}
	}
	return env, nil
}

// fields reads a JSON object leniently: each accessor returns the zero value when the field
// is missing or of another type.
type fields map[string]json.RawMessage

func (f fields) str(k string) string {
	raw, ok := f[k]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String() // ids and phone numbers sometimes arrive as numbers
	}
	return ""
}

func (f fields) boolean(k string) bool {
	var b bool
	if json.Unmarshal(f[k], &b) == nil {
		return b
	}
	s := strings.ToLower(f.str(k))
	return s == "true" || s == "1"
}

func (f fields) num(k string) float64 {
	var n float64
	if json.Unmarshal(f[k], &n) == nil {
		return n
	}
	n, _ = strconv.ParseFloat(f.str(k), 64)
	return n
}

func (f fields) time(k string) time.Time {
	var t Time
	_ = t.UnmarshalJSON(f[k])
	return t.Time
}

func (f fields) strs(k string) []string {
	var raw []json.RawMessage
	if json.Unmarshal(f[k], &raw) != nil {
		return nil
	}
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		if s := (fields{"v": r}).str("v"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (f fields) obj(k string) fields {
	var o fields
	_ = json.Unmarshal(f[k], &o)
	return o
}

func (f fields) contact() *ContactEvent {
	c := &ContactEvent{
		ID: f.str("id"), LocationID: f.str("locationId"), FirstName: f.str("firstName"), LastName: f.str("lastName"),
		Name: f.str("name"), Email: f.str("email"), Phone: f.str("phone"), CompanyName: f.str("companyName"),
		Address1: f.str("address1"), City: f.str("city"), State: f.str("state"), PostalCode: f.str("postalCode"),
		Country: f.str("country"), Website: f.str("website"), Source: f.str("source"), AssignedTo: f.str("assignedTo"),
		DateOfBirth: f.str("dateOfBirth"), DND: f.boolean("dnd"), Tags: f.strs("tags"), DateAdded: Time{f.time("dateAdded")},
	}
	for ch, raw := range f.obj("dndSettings") {
		s := fields{"v": raw}.obj("v")
		if s == nil {
			continue
		}
		if c.DNDSettings == nil {
			c.DNDSettings = map[string]DNDSetting{}
		}
		c.DNDSettings[ch] = DNDSetting{Status: s.str("status"), Message: s.str("message"), Code: s.str("code")}
	}
	var cfs []json.RawMessage
	if json.Unmarshal(f["customFields"], &cfs) == nil {
		for _, raw := range cfs {
			var cf fields
			if json.Unmarshal(raw, &cf) != nil || cf == nil {
				continue
			}
			var v any
			if r, ok := cf["value"]; ok {
				_ = json.Unmarshal(r, &v)
			}
			c.CustomFields = append(c.CustomFields, CustomFieldValue{ID: cf.str("id"), Value: v})
		}
	}
	return c
}

func (f fields) appointment() Appointment {
	return Appointment{
		ID: f.str("id"), LocationID: f.str("locationId"), ContactID: f.str("contactId"), CalendarID: f.str("calendarId"),
		GroupID: f.str("groupId"), Title: f.str("title"), Status: f.str("status"), AppointmentStatus: f.str("appointmentStatus"),
		AssignedUserID: f.str("assignedUserId"), Users: f.strs("users"), Notes: f.str("notes"), Address: f.str("address"),
		Source: f.str("source"), StartTime: Time{f.time("startTime")}, EndTime: Time{f.time("endTime")},
		DateAdded: Time{f.time("dateAdded")}, DateUpdated: Time{f.time("dateUpdated")},
	}
}
