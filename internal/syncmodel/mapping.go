package syncmodel

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
)

// Direction says which way a field flows.
type Direction string

// Directions. Mapping documents may also spell them "ghl→rz" and "rz→ghl".
const (
	GHLToRZ Direction = "ghl->rz"
	RZToGHL Direction = "rz->ghl"
	Both    Direction = "both"
)

// Flows reports whether a value changed on from moves to to.
func (d Direction) Flows(from, to Side) bool {
	switch d {
	case Both:
		return from != to
	case GHLToRZ:
		return from == SideGHL && to == SideRZ
	case RZToGHL:
		return from == SideRZ && to == SideGHL
	}
	return false
}

// source returns the side a one-way field is read from.
func (d Direction) source() Side {
	if d == RZToGHL {
		return SideRZ
	}
	return SideGHL
}

func parseDirection(s string) (Direction, bool) {
	switch strings.TrimSpace(s) {
	case "ghl->rz", "ghl→rz":
		return GHLToRZ, true
	case "rz->ghl", "rz→ghl":
		return RZToGHL, true
	case "both":
		return Both, true
	}
	return "", false
}

// ConflictPolicy resolves a both-way field changed on both sides to different values.
type ConflictPolicy string

// Conflict policies.
const (
	GHLWins ConflictPolicy = "ghl-wins"
	RZWins  ConflictPolicy = "rz-wins"
	// NewestWins takes the side whose Person.UpdatedAt is later. When the timestamps are
	// equal or either is unknown (zero; Referrizer may not expose one), HighLevel wins: it
	// is the CRM of record.
	NewestWins ConflictPolicy = "newest-wins"
)

// DeletePolicy says what a delete on one side does to the other.
type DeletePolicy string

// Delete policies.
const (
	DeletePropagate DeletePolicy = "propagate" // delete the person on the other side too
	DeleteLabel     DeletePolicy = "label"     // add the deleted label (tag) on the other side
	DeleteIgnore    DeletePolicy = "ignore"    // leave the other side alone
)

// FieldRule says how one canonical field syncs.
type FieldRule struct {
	// Name is the canonical field: firstName, lastName, email, phone, dnd, tags or
	// custom.<key>.
	Name      string    `json:"name"`
	Direction Direction `json:"direction"`
	// Conflict is the policy of a both-way field (not tags: a set merge has no conflicts).
	Conflict ConflictPolicy `json:"conflict,omitempty"`
	// Transform is an optional CEL expression (one-way fields only) computing the value
	// written to the target side from `value` (the source value) and `person` (the source
	// side's person).
	Transform string `json:"transform,omitempty"`
	// Exclude lists tags kept out of tag sync (tags only); "src-*" matches a prefix.
	Exclude []string `json:"exclude,omitempty"`

	prg cel.Program
}

// CustomField pairs a HighLevel custom field with a Referrizer one.
type CustomField struct {
	// Key is the canonical key (Person.Custom; field name "custom."+Key).
	Key string `json:"key"`
	// GHLID is the HighLevel custom field id.
	GHLID string `json:"ghl"`
	// RZName is the Referrizer custom field name.
	RZName string `json:"rz"`
}

// NotesProjection configures the HighLevel notes digest written to Referrizer.
type NotesProjection struct {
	Field     string `json:"field"`     // Referrizer custom field holding the digest
	MaxLength int    `json:"maxLength"` // in characters (runes), truncation marker included
}

// TasksProjection configures the HighLevel tasks digest and status labels.
type TasksProjection struct {
	Field     string `json:"field"`
	MaxLength int    `json:"maxLength"`
	// KeepCompleted is how long a completed task stays in the digest (marked done).
	KeepCompleted time.Duration `json:"keepCompleted"`
	OpenLabel     string        `json:"openLabel"`    // set while any task is open
	OverdueLabel  string        `json:"overdueLabel"` // set while any open task is overdue
}

// Mapping is one connection's sync configuration, parsed, validated and compiled. It is
// immutable and safe for concurrent use.
type Mapping struct {
	region       string
	fields       []FieldRule // scalar fields in plan order, then custom fields by key, then tags
	byName       map[string]*FieldRule
	custom       []CustomField
	deletePolicy DeletePolicy
	deletedLabel string
	notes        NotesProjection
	tasks        TasksProjection
	rules        []*Rule
}

// DefaultMappingYAML is the mapping a connection uses when it has none of its own.
const DefaultMappingYAML = `# hlrz default mapping
version: 1
phone_region: US
fields:
  firstName: {direction: both, conflict: newest-wins}
  lastName:  {direction: both, conflict: newest-wins}
  email:     {direction: both, conflict: ghl-wins}
  phone:     {direction: both, conflict: ghl-wins}
  dnd:       {direction: both, conflict: newest-wins}
  tags:      {direction: both}
delete_policy: label
deleted_label: hlrz-deleted
projections:
  notes:
    field: GHL Notes
    max_length: 2000
  tasks:
    field: GHL Tasks
    max_length: 2000
    keep_completed_for: 7d
    open_label: ghl-task-open
    overdue_label: ghl-task-overdue
`

// defaultFields are the fields of DefaultMappingYAML, used when a document has no `fields`
// (a test keeps the two equal).
func defaultFields() []FieldRule {
	return []FieldRule{
		{Name: FieldFirstName, Direction: Both, Conflict: NewestWins},
		{Name: FieldLastName, Direction: Both, Conflict: NewestWins},
		{Name: FieldEmail, Direction: Both, Conflict: GHLWins},
		{Name: FieldPhone, Direction: Both, Conflict: GHLWins},
		{Name: FieldDND, Direction: Both, Conflict: NewestWins},
		{Name: FieldTags, Direction: Both},
	}
}

var defaultMapping = sync.OnceValue(func() *Mapping {
	m, err := ParseMapping([]byte(DefaultMappingYAML))
	if err != nil {
		panic(fmt.Sprintf("syncmodel: default mapping is invalid: %v", err))
	}
	return m
})

// DefaultMapping returns the default mapping (DefaultMappingYAML): first and last name,
// e-mail, phone, DND and tags both ways; names and DND newest-wins, e-mail and phone
// ghl-wins; deletes labelled; phones in region US.
func DefaultMapping() *Mapping { return defaultMapping() }

// PhoneRegion is the default region for phones written without a country code.
func (m *Mapping) PhoneRegion() string { return m.region }

// Fields returns the synced fields, tags last.
func (m *Mapping) Fields() []FieldRule {
	out := make([]FieldRule, len(m.fields))
	copy(out, m.fields)
	for i := range out {
		out[i].Exclude = append([]string(nil), out[i].Exclude...)
	}
	return out
}

// Field returns the rule of a canonical field, if it is synced.
func (m *Mapping) Field(name string) (FieldRule, bool) {
	f, ok := m.byName[name]
	if !ok {
		return FieldRule{}, false
	}
	return *f, true
}

// CustomFields returns the custom-field pairs, by key.
func (m *Mapping) CustomFields() []CustomField { return append([]CustomField(nil), m.custom...) }

// CustomFromSide converts a side's raw custom values (HighLevel: by field id; Referrizer: by
// field name) into canonical keys, keeping only mapped fields.
func (m *Mapping) CustomFromSide(s Side, raw map[string]string) map[string]string {
	var out map[string]string
	for _, c := range m.custom {
		if v, ok := raw[c.sideName(s)]; ok && strings.TrimSpace(v) != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[c.Key] = v
		}
	}
	return out
}

// CustomToSide converts canonical custom values into a side's ids (HighLevel) or names
// (Referrizer). Unmapped keys are dropped; empty values are kept (they clear the field).
func (m *Mapping) CustomToSide(s Side, custom map[string]string) map[string]string {
	var out map[string]string
	for _, c := range m.custom {
		if v, ok := custom[c.Key]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[c.sideName(s)] = v
		}
	}
	return out
}

func (c CustomField) sideName(s Side) string {
	if s == SideGHL {
		return c.GHLID
	}
	return c.RZName
}

// DeletePolicy says what a delete on one side does to the other.
func (m *Mapping) DeletePolicy() DeletePolicy { return m.deletePolicy }

// DeletedLabel is the label (Referrizer) or tag (HighLevel) the label delete policy adds.
func (m *Mapping) DeletedLabel() string { return m.deletedLabel }

// NotesField is the Referrizer custom field holding the notes digest.
func (m *Mapping) NotesField() string { return m.notes.Field }

// TasksField is the Referrizer custom field holding the tasks digest.
func (m *Mapping) TasksField() string { return m.tasks.Field }

// Notes returns the notes projection settings.
func (m *Mapping) Notes() NotesProjection { return m.notes }

// Tasks returns the tasks projection settings.
func (m *Mapping) Tasks() TasksProjection { return m.tasks }

// StatusLabels returns every status label RenderTasksDigest may set (open, overdue), so an
// applier can remove the ones not returned.
func (m *Mapping) StatusLabels() []string {
	return []string{m.tasks.OpenLabel, m.tasks.OverdueLabel}
}

// Rules returns the rules, in document order.
func (m *Mapping) Rules() []Rule {
	out := make([]Rule, len(m.rules))
	for i, r := range m.rules {
		out[i] = *r
		out[i].Actions = append([]ActionSpec(nil), r.Actions...)
	}
	return out
}

// Project returns the part of p that the merge reads from side s, normalized: the fields
// flowing out of s (a change there moves), and its synced tags if tags flow out of s.
// Source and UpdatedAt are dropped. HashSide hashes this projection, so a change on s that
// no rule would move does not count as a change.
func (m *Mapping) Project(s Side, p Person) Person {
	p = m.Normalize(p)
	var out Person
	for i := range m.fields {
		f := &m.fields[i]
		if !f.Direction.Flows(s, s.Other()) {
			continue
		}
		if f.Name == FieldTags {
			out.Tags = m.SyncedTags(p.Tags)
			continue
		}
		out.set(f.Name, p.get(f.Name))
	}
	return out
}

// flowsAny reports whether any synced field flows from one side to the other.
func (m *Mapping) flowsAny(from, to Side) bool {
	for i := range m.fields {
		if m.fields[i].Direction.Flows(from, to) {
			return true
		}
	}
	return false
}
