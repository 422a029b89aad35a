package referrizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
)

// Contact is a Referrizer contact.
//
// Referrizer's contact schema is only partly known, and the sync updates contacts by
// reading, changing and writing back the whole object. So decoding never drops anything:
// top-level keys the client does not model go to Extra, and so does a modelled key whose
// value has an unexpected JSON type (it is left zero in the typed field). Encoding writes
// Extra back, then the typed fields over it; a typed field that is zero yields to an Extra
// value of the same key, so an odd value the server sent returns to it untouched. To clear
// such a field, delete its Extra key too.
type Contact struct {
	ID          string
	FirstName   string
	LastName    string
	Email       string
	Phone       string // as Referrizer stores it; its expected format is unknown
	BirthDate   string // YYYY-MM-DD
	Type        string
	Description string
	Labels      []string
	// CustomFields holds custom field values keyed by field name (the documented object
	// form; whether Referrizer also accepts ids is unknown, names read better in history
	// and the simulator keys by name). Values are raw JSON so that non-text fields
	// (numbers, dates, dropdowns) round-trip unchanged; use CustomText/SetCustomText for
	// text fields.
	CustomFields map[string]json.RawMessage
	// ShouldSendNotification is always sent false by this client: a sync must never
	// message customers.
	ShouldSendNotification bool
	UnsubscribedFromText   bool
	UnsubscribedFromEmail  bool
	// CreatedAt and UpdatedAt are zero when Referrizer does not return them (unknown).
	CreatedAt time.Time
	UpdatedAt time.Time
	// Extra holds what the client does not model (e.g. loyaltyPoints), sent back as read.
	Extra map[string]json.RawMessage
}

const timeLayout = "2006-01-02T15:04:05.000Z" // ISO 8601 UTC with milliseconds, as documented

// CustomText returns a text custom field value; ok is false if the field is absent, null
// or not a string.
func (c Contact) CustomText(name string) (value string, ok bool) {
	raw, present := c.CustomFields[name]
	if !present || json.Unmarshal(raw, &value) != nil {
		return "", false
	}
	return value, true
}

// SetCustomText sets a text custom field value.
func (c *Contact) SetCustomText(name, value string) {
	raw, _ := json.Marshal(value) // a string always encodes
	if c.CustomFields == nil {
		c.CustomFields = map[string]json.RawMessage{}
	}
	c.CustomFields[name] = raw
}

// ClearCustomField sets a custom field to null, which clears it whether Referrizer
// replaces or merges on update.
func (c *Contact) ClearCustomField(name string) {
	if c.CustomFields == nil {
		c.CustomFields = map[string]json.RawMessage{}
	}
	c.CustomFields[name] = json.RawMessage("null")
}

// MarshalJSON encodes the whole object for a full-object PUT. Empty strings encode as null
// (a date or an email cannot be "", and null clears under either update semantics); labels
// and customFields are always present; id and timestamps only when known.
func (c Contact) MarshalJSON() ([]byte, error) {
	m := make(map[string]json.RawMessage, len(c.Extra)+15)
	for k, v := range c.Extra {
		if v == nil {
			v = json.RawMessage("null")
		}
		m[k] = v
	}
	put := func(key string, zero bool, value any, absent json.RawMessage) error {
		if zero {
			if _, fromExtra := m[key]; !fromExtra && absent != nil {
				m[key] = absent
			}
			return nil
		}
		raw, err := json.Marshal(value)
		if err != nil {
			return fmt.Errorf("encode contact %s: %w", key, err)
		}
		m[key] = raw
		return nil
	}
	null := json.RawMessage("null")
	for _, f := range []struct {
		key, value string
		absent     json.RawMessage
	}{
		{"id", c.ID, nil}, {"firstName", c.FirstName, null}, {"lastName", c.LastName, null},
		{"email", c.Email, null}, {"phone", c.Phone, null}, {"birthDate", c.BirthDate, null},
		{"type", c.Type, null}, {"description", c.Description, null},
	} {
		if err := put(f.key, f.value == "", f.value, f.absent); err != nil {
			return nil, err
		}
	}
	if err := put("labels", len(c.Labels) == 0, c.Labels, json.RawMessage("[]")); err != nil {
		return nil, err
	}
	if err := put("customFields", len(c.CustomFields) == 0, c.CustomFields, json.RawMessage("{}")); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key   string
		value bool
	}{
		{"shouldSendNotification", c.ShouldSendNotification},
		{"unsubscribedFromText", c.UnsubscribedFromText},
		{"unsubscribedFromEmail", c.UnsubscribedFromEmail},
	} {
		if err := put(f.key, !f.value, true, json.RawMessage("false")); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		key string
		t   time.Time
	}{{"createdAt", c.CreatedAt}, {"updatedAt", c.UpdatedAt}} {
		if err := put(f.key, f.t.IsZero(), f.t.UTC().Format(timeLayout), nil); err != nil {
			return nil, err
		}
	}
	out, err := json.Marshal(m) // map keys sort, so equal contacts encode to equal bytes
	if err != nil {
		return nil, fmt.Errorf("encode contact: %w", err)
	}
	return out, nil
}

// UnmarshalJSON decodes tolerantly; only a body that is not a JSON object fails.
func (c *Contact) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("decode contact: %w", err)
	}
	var out Contact
	strs := map[string]*string{
		"id": &out.ID, "firstName": &out.FirstName, "lastName": &out.LastName, "email": &out.Email,
		"phone": &out.Phone, "birthDate": &out.BirthDate, "type": &out.Type, "description": &out.Description,
	}
	bools := map[string]*bool{
		"shouldSendNotification": &out.ShouldSendNotification,
		"unsubscribedFromText":   &out.UnsubscribedFromText,
		"unsubscribedFromEmail":  &out.UnsubscribedFromEmail,
	}
	for k, raw := range obj {
		var ok bool
		switch {
		case strs[k] != nil:
			ok = decodeText(raw, strs[k])
		case bools[k] != nil:
			ok = decodeBool(raw, bools[k])
		case k == "labels":
			ok = isNull(raw) || json.Unmarshal(raw, &out.Labels) == nil && !slices.Contains(rawItems(raw), "null")
			if !ok {
				out.Labels = nil
			}
		case k == "customFields":
			ok = isNull(raw) || json.Unmarshal(raw, &out.CustomFields) == nil
			if !ok {
				out.CustomFields = nil
			}
		case k == "createdAt":
			ok = decodeTime(raw, &out.CreatedAt)
		case k == "updatedAt":
			ok = decodeTime(raw, &out.UpdatedAt)
		}
		if !ok {
			if out.Extra == nil {
				out.Extra = map[string]json.RawMessage{}
			}
			out.Extra[k] = slices.Clone(raw)
		}
	}
	*c = out
	return nil
}

func isNull(raw []byte) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// rawItems lists an array's items as raw text, to tell ["a", null] (not a clean label list)
// from ["a"].
func rawItems(raw json.RawMessage) []string {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = string(bytes.TrimSpace(it))
	}
	return out
}

// decodeText accepts a string, null, or a number (kept as its literal, e.g. a phone number
// stored numerically).
func decodeText(raw json.RawMessage, dst *string) bool {
	if isNull(raw) {
		return true
	}
	if json.Unmarshal(raw, dst) == nil {
		return true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		*dst = n.String()
		return true
	}
	return false
}

// decodeBool accepts a boolean, null, or "true"/"false".
func decodeBool(raw json.RawMessage, dst *bool) bool {
	if isNull(raw) || json.Unmarshal(raw, dst) == nil {
		return true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if v, err := strconv.ParseBool(s); err == nil {
			*dst = v
			return true
		}
	}
	return false
}

// decodeTime accepts an ISO 8601 string, null, or epoch milliseconds.
func decodeTime(raw json.RawMessage, dst *time.Time) bool {
	if isNull(raw) {
		return true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return false
		}
		*dst = t.UTC()
		return true
	}
	var ms int64
	if json.Unmarshal(raw, &ms) == nil {
		*dst = time.UnixMilli(ms).UTC()
		return true
	}
	return false
}

// ContactPatch is a change to a contact: nil fields are left alone. It is plain data, so a
// planned change can be recorded (e.g. in workflow history) and applied later by
// UpdateContact against whatever the contact holds then.
type ContactPatch struct {
	FirstName             *string `json:"firstName,omitempty"`
	LastName              *string `json:"lastName,omitempty"`
	Email                 *string `json:"email,omitempty"`
	Phone                 *string `json:"phone,omitempty"`
	BirthDate             *string `json:"birthDate,omitempty"`
	Type                  *string `json:"type,omitempty"`
	Description           *string `json:"description,omitempty"`
	UnsubscribedFromText  *bool   `json:"unsubscribedFromText,omitempty"`
	UnsubscribedFromEmail *bool   `json:"unsubscribedFromEmail,omitempty"`
	// AddLabels and RemoveLabels are deltas against the labels read at update time (exact
	// match), so a label someone added in Referrizer meanwhile survives. Removals apply
	// first, so a label in both lists ends up present.
	AddLabels    []string `json:"addLabels,omitempty"`
	RemoveLabels []string `json:"removeLabels,omitempty"`
	// SetCustomText sets text custom fields by name; ClearCustomFields sets fields to null.
	SetCustomText     map[string]string `json:"setCustomText,omitempty"`
	ClearCustomFields []string          `json:"clearCustomFields,omitempty"`
}

// IsZero reports whether the patch changes nothing.
func (p ContactPatch) IsZero() bool {
	return p.FirstName == nil && p.LastName == nil && p.Email == nil && p.Phone == nil &&
		p.BirthDate == nil && p.Type == nil && p.Description == nil &&
		p.UnsubscribedFromText == nil && p.UnsubscribedFromEmail == nil &&
		len(p.AddLabels) == 0 && len(p.RemoveLabels) == 0 &&
		len(p.SetCustomText) == 0 && len(p.ClearCustomFields) == 0
}

// Apply changes c in place. Setting a string field clears any odd raw value kept in Extra
// for it, so the new value is what gets written.
func (p ContactPatch) Apply(c *Contact) {
	for _, f := range []struct {
		key string
		src *string
		dst *string
	}{
		{"firstName", p.FirstName, &c.FirstName}, {"lastName", p.LastName, &c.LastName},
		{"email", p.Email, &c.Email}, {"phone", p.Phone, &c.Phone},
		{"birthDate", p.BirthDate, &c.BirthDate}, {"type", p.Type, &c.Type},
		{"description", p.Description, &c.Description},
	} {
		if f.src != nil {
			*f.dst = *f.src
			delete(c.Extra, f.key)
		}
	}
	if p.UnsubscribedFromText != nil {
		c.UnsubscribedFromText = *p.UnsubscribedFromText
		delete(c.Extra, "unsubscribedFromText")
	}
	if p.UnsubscribedFromEmail != nil {
		c.UnsubscribedFromEmail = *p.UnsubscribedFromEmail
		delete(c.Extra, "unsubscribedFromEmail")
	}
	if len(p.RemoveLabels) > 0 || len(p.AddLabels) > 0 {
		labels := slices.DeleteFunc(slices.Clone(c.Labels), func(l string) bool { return slices.Contains(p.RemoveLabels, l) })
		for _, l := range p.AddLabels {
			if !slices.Contains(labels, l) {
				labels = append(labels, l)
			}
		}
		c.Labels = labels
	}
	if len(p.SetCustomText) > 0 || len(p.ClearCustomFields) > 0 {
		c.CustomFields = maps.Clone(c.CustomFields)
		for _, name := range p.ClearCustomFields {
			c.ClearCustomField(name)
		}
		for name, v := range p.SetCustomText {
			c.SetCustomText(name, v)
		}
	}
}
