package syncmodel

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var ignoreCompiled = cmpopts.IgnoreUnexported(FieldRule{}, Rule{}, ActionSpec{})

func TestDefaultMapping(t *testing.T) {
	m := DefaultMapping()
	want := []FieldRule{
		{Name: FieldFirstName, Direction: Both, Conflict: NewestWins},
		{Name: FieldLastName, Direction: Both, Conflict: NewestWins},
		{Name: FieldEmail, Direction: Both, Conflict: GHLWins},
		{Name: FieldPhone, Direction: Both, Conflict: GHLWins},
		{Name: FieldDND, Direction: Both, Conflict: NewestWins},
		{Name: FieldTags, Direction: Both},
	}
	if diff := cmp.Diff(want, m.Fields(), ignoreCompiled, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("default fields (-want +got):\n%s", diff)
	}
	// A document without `fields` gets the same fields as DefaultMappingYAML spells out.
	if diff := cmp.Diff(m.Fields(), mustMapping(t, "{}").Fields(), ignoreCompiled, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("defaultFields() drifted from DefaultMappingYAML (-yaml +go):\n%s", diff)
	}
	checks := []struct{ got, want any }{
		{m.PhoneRegion(), "US"},
		{m.DeletePolicy(), DeleteLabel},
		{m.DeletedLabel(), "hlrz-deleted"},
		{m.NotesField(), "GHL Notes"},
		{m.TasksField(), "GHL Tasks"},
		{m.StatusLabels(), []string{"ghl-task-open", "ghl-task-overdue"}},
		{m.Notes(), NotesProjection{Field: "GHL Notes", MaxLength: 2000}},
		{m.Tasks().KeepCompleted, 7 * 24 * time.Hour},
		{len(m.Rules()), 0},
		{len(m.CustomFields()), 0},
	}
	for i, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("check %d (-want +got):\n%s", i, diff)
		}
	}
	if DefaultMapping() != m {
		t.Error("DefaultMapping should be built once")
	}
}

func TestExampleMappingFile(t *testing.T) {
	doc, err := os.ReadFile("testdata/mapping.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := mustMapping(t, string(doc))
	if diff := cmp.Diff([]CustomField{{Key: "membership", GHLID: "hVx7PzM2kQ9aTmembr01", RZName: "Membership Level"}}, m.CustomFields()); diff != "" {
		t.Errorf("custom fields (-want +got):\n%s", diff)
	}
	f, ok := m.Field("custom.membership")
	if !ok || f.Direction != GHLToRZ {
		t.Errorf("custom.membership = %+v, %v; want ghl->rz", f, ok)
	}
	var ids []string
	for _, r := range m.Rules() {
		ids = append(ids, r.ID+"@"+string(r.On))
	}
	if diff := cmp.Diff([]string{"label-by-source@contact", "follow-up-new-lead@contact", "referral-note-campaign@notes"}, ids); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	// Apart from the additions, the example is the default mapping.
	def := DefaultMapping()
	for _, name := range []string{FieldFirstName, FieldLastName, FieldEmail, FieldPhone, FieldDND} {
		got, _ := m.Field(name)
		want, _ := def.Field(name)
		if diff := cmp.Diff(want, got, ignoreCompiled); diff != "" {
			t.Errorf("%s differs from the default (-default +example):\n%s", name, diff)
		}
	}
	if m.Notes() != def.Notes() || m.Tasks() != def.Tasks() || m.DeletePolicy() != def.DeletePolicy() || m.PhoneRegion() != def.PhoneRegion() {
		t.Error("example projections, delete policy or region differ from the default")
	}
}

func TestParseMappingJSON(t *testing.T) {
	m := mustMapping(t, `{
	"phone_region": "gb",
	"fields": {"email": {"direction": "ghl→rz"}, "tags": "rz->ghl"},
	"custom_fields": [{"ghl": "abc", "rz": "Favourite Class", "direction": "both"}],
	"delete_policy": "propagate",
	"projections": {"tasks": {"keep_completed_for": "36h", "max_length": 500}}
}`)
	got := struct {
		Region  string
		Fields  []FieldRule
		Custom  []CustomField
		Delete  DeletePolicy
		Tasks   TasksProjection
		Default NotesProjection
	}{m.PhoneRegion(), m.Fields(), m.CustomFields(), m.DeletePolicy(), m.Tasks(), m.Notes()}
	want := got
	want.Region = "GB"
	want.Fields = []FieldRule{
		{Name: FieldEmail, Direction: GHLToRZ},
		{Name: "custom.Favourite Class", Direction: Both, Conflict: GHLWins},
		{Name: FieldTags, Direction: RZToGHL},
	}
	want.Custom = []CustomField{{Key: "Favourite Class", GHLID: "abc", RZName: "Favourite Class"}}
	want.Delete = DeletePropagate
	want.Tasks = TasksProjection{Field: "GHL Tasks", MaxLength: 500, KeepCompleted: 36 * time.Hour, OpenLabel: "ghl-task-open", OverdueLabel: "ghl-task-overdue"}
	want.Default = NotesProjection{Field: "GHL Notes", MaxLength: 2000}
	if diff := cmp.Diff(want, got, ignoreCompiled, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, ok := m.Field(FieldFirstName); ok {
		t.Error("fields lists the complete set: firstName must not be synced")
	}
}

func TestParseMappingErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string // each ConfigError's text, in order
	}{
		{"unknown top-level key", "phone_regoin: US\n", []string{`line 1: phone_regoin: unknown key (did you mean "phone_region"?)`}},
		{"unknown field", "fields:\n  emial: both\n", []string{`line 2: fields.emial: unknown key (did you mean "email"?)`}},
		{"snake_case field", "fields:\n  first_name: both\n", []string{`line 2: fields.first_name: unknown key (did you mean "firstName"?)`}},
		{"custom field under fields", "fields:\n  custom.x: both\n", []string{`line 2: fields.custom.x: unknown key (allowed: firstName, lastName, email, phone, dnd, tags)`}},
		{"typo in field key", "fields:\n  email: {direction: both, conflikt: ghl-wins}\n", []string{`line 2: fields.email.conflikt: unknown key (did you mean "conflict"?)`}},
		{"repeated key", "delete_policy: label\ndelete_policy: ignore\n", []string{`line 2: delete_policy: repeated key`}},
		{"bad direction", "fields:\n  email: ghl>rz\n", []string{`line 2: fields.email: unknown direction "ghl>rz" (did you mean "ghl->rz"?)`}},
		{"missing direction", "fields:\n  email:\n    conflict: ghl-wins\n", []string{`line 3: fields.email: direction is required (ghl->rz, rz->ghl or both)`}},
		{"empty field", "fields:\n  email:\n", []string{`line 2: fields.email: must be a mapping of keys to values, not empty`}},
		{"bad policy", "fields:\n  email: {direction: both, conflict: ghl_wins}\n", []string{`line 2: fields.email.conflict: unknown conflict policy "ghl_wins" (did you mean "ghl-wins"?)`}},
		{"policy on one-way", "fields:\n  email: {direction: rz->ghl, conflict: rz-wins}\n", []string{`line 2: fields.email.conflict: applies only to both-way fields, and this one is rz->ghl`}},
		{"policy on tags", "fields:\n  tags: {direction: both, conflict: rz-wins}\n", []string{`line 2: fields.tags.conflict: does not apply to tags: tags merge as sets, adds and removes both move`}},
		{"exclude on email", "fields:\n  email: {direction: both, exclude: [x]}\n", []string{`line 2: fields.email.exclude: applies only to tags`}},
		{"bad exclude pattern", "fields:\n  tags: {direction: both, exclude: ['a*b']}\n", []string{`line 2: fields.tags.exclude[0]: "a*b": * is only allowed at the end (a prefix pattern)`}},
		{"transform on both", "fields:\n  email: {direction: both, transform: value}\n", []string{`line 2: fields.email.transform: needs a one-way direction (ghl->rz or rz->ghl): a both-way field would need an exact inverse to stay in sync`}},
		{"transform on dnd", "fields:\n  dnd: {direction: ghl->rz, transform: value}\n", []string{`line 2: fields.dnd.transform: applies only to text fields, not dnd`}},
		{"transform type", "fields:\n  email: {direction: ghl->rz, transform: 'size(value)'}\n", []string{`line 2: fields.email.transform: must evaluate to string, not int`}},
		{"transform typo", "fields:\n  email:\n    direction: ghl->rz\n    transform: person.emial\n", []string{`line 4: fields.email.transform: undefined field 'emial' (column 7)`}},
		{"version", "version: 2\n", []string{`line 1: version: unsupported version 2 (this build reads version 1)`}},
		{"version text", "version: one\n", []string{`line 1: version: must be a whole number`}},
		{"region", "phone_region: XX\n", []string{`line 1: phone_region: unknown region "XX": want an ISO 3166 two-letter code such as US, GB or DE`}},
		{"delete policy", "delete_policy: nuke\n", []string{`line 1: delete_policy: unknown delete policy "nuke" (allowed: propagate, label, ignore)`}},
		{"empty label", "deleted_label: ''\n", []string{`line 1: deleted_label: must not be empty`}},
		{"multi-line label", "deleted_label: \"a\\nb\"\n", []string{`line 1: deleted_label: must be one line of at most 100 characters`}},
		{"label as a list", "deleted_label: [a]\n", []string{`line 1: deleted_label: must be a text value, not a list`}},
		{"custom key empty", "custom_fields:\n  - {key: '', ghl: a, rz: A, direction: both}\n", []string{`line 2: custom_fields[0].key: must not be empty`}},
		{"custom ghl twice", "custom_fields:\n  - {ghl: a, rz: A, direction: both}\n  - {ghl: a, rz: B, direction: both}\n", []string{
			`line 3: custom_fields[1].ghl: HighLevel custom field "a" is mapped twice`}},
		{"custom key twice", "custom_fields:\n  - {key: k, ghl: a, rz: A, direction: both}\n  - {key: k, ghl: b, rz: B, direction: both}\n", []string{
			`line 3: custom_fields[1].key: custom field key "k" is used twice`}},
		{"label clash", "deleted_label: GHL-Task-Open\n", []string{`line 1: deleted_label: must differ from projections.tasks.open_label ("ghl-task-open")`}},
		{"projection clash", "projections:\n  tasks: {field: ghl notes}\n", []string{`line 2: projections.tasks.field: must differ from projections.notes.field ("GHL Notes")`}},
		{"max length", "projections:\n  notes: {max_length: 10}\n", []string{`line 2: projections.notes.max_length: must be between 80 and 100000, not 10`}},
		{"keep completed", "projections:\n  tasks: {keep_completed_for: a week}\n", []string{`line 2: projections.tasks.keep_completed_for: "a week" is not a duration such as 7d, 36h or 0`}},
		{"negative age", "projections:\n  tasks: {keep_completed_for: -1h}\n", []string{`line 2: projections.tasks.keep_completed_for: "-1h" must be between 0 and 3650d`}},
		{"custom missing ids", "custom_fields:\n  - {key: a}\n", []string{
			`line 2: custom_fields[0]: ghl (the HighLevel custom field id) is required`,
			`line 2: custom_fields[0]: rz (the Referrizer custom field name) is required`}},
		{"custom missing direction", "custom_fields:\n  - {ghl: a, rz: A}\n", []string{`line 2: custom_fields[0]: direction is required (ghl->rz, rz->ghl or both)`}},
		{"custom duplicate", "custom_fields:\n  - {ghl: a, rz: A, direction: both}\n  - {ghl: b, rz: a, direction: both}\n", []string{
			`line 3: custom_fields[1].rz: Referrizer custom field "a" is mapped twice`}},
		{"custom vs projection", "custom_fields:\n  - {ghl: a, rz: GHL Tasks, direction: both}\n", []string{
			`line 2: custom_fields: Referrizer custom field "GHL Tasks" is the projections.tasks.field: pick another name`}},
		{"custom unknown key", "custom_fields:\n  - {ghl: a, rz: A, direction: both, exclude: [x]}\n", []string{
			`line 2: custom_fields[0].exclude: unknown key (allowed: key, ghl, rz, direction, conflict, transform)`}},
		{"fields not a mapping", "fields: [email]\n", []string{`line 1: fields: must be a mapping of keys to values, not a list`}},
		{"rules not a list", "rules: {id: x}\n", []string{`line 1: rules: must be a list, not a mapping`}},
		{"rule without id, on, actions", "rules:\n  - when: 'true'\n", []string{
			`line 2: rules[0]: id is required`,
			`line 2: rules[0]: on is required (contact, notes, tasks, appointments)`,
			`line 2: rules[0]: actions is required`}},
		{"rule id", "rules:\n  - {id: Bad Id, on: contact, actions: [{type: add_rz_label, label: x}]}\n", []string{
			`line 2: rules[0].id: "Bad Id": use lower-case letters, digits, - and _ (at most 64)`}},
		{"duplicate rule id", "rules:\n  - {id: a, on: contact, actions: [{type: add_rz_label, label: x}]}\n  - {id: a, on: contact, actions: [{type: add_rz_label, label: x}]}\n", []string{
			`line 3: rules[1].id: rule id "a" is used twice`}},
		{"event kind", "rules:\n  - {id: a, on: note, actions: [{type: add_rz_label, label: x}]}\n", []string{
			`line 2: rules[0].on: unknown event kind "note" (did you mean "notes"?)`}},
		{"condition typo", "rules:\n  - id: a\n    on: contact\n    when: person.frstName == ''\n    actions: [{type: add_rz_label, label: x}]\n", []string{
			`line 4: rules[0].when: undefined field 'frstName' (column 7)`}},
		{"condition type", "rules:\n  - id: a\n    on: contact\n    when: person.firstName\n    actions: [{type: add_rz_label, label: x}]\n", []string{
			`line 4: rules[0].when: must evaluate to bool, not string`}},
		{"note outside notes rules", "rules:\n  - id: a\n    on: contact\n    when: note.body != ''\n    actions: [{type: add_rz_label, label: x}]\n", []string{
			`line 4: rules[0].when: undeclared reference to 'note' (in container '') (column 1)`}},
		{"syntax error", "rules:\n  - id: a\n    on: contact\n    when: 'person.firstName == '\n    actions: [{type: add_rz_label, label: x}]\n", []string{
			`line 4: rules[0].when: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER} (column 20)`}},
		{"no actions", "rules:\n  - {id: a, on: contact, actions: []}\n", []string{`line 2: rules[0].actions: must list at least one action`}},
		{"action type", "rules:\n  - {id: a, on: contact, actions: [{type: add_label, label: x}]}\n", []string{
			`line 2: rules[0].actions[0].type: unknown action type "add_label" (allowed: add_rz_label, remove_rz_label, add_ghl_tag, remove_ghl_tag, create_ghl_task, complete_ghl_task, record_rz_visit)`}},
		{"action without type", "rules:\n  - {id: a, on: contact, actions: [{label: x}]}\n", []string{
			`line 2: rules[0].actions[0]: type is required (add_rz_label, remove_rz_label, add_ghl_tag, remove_ghl_tag, create_ghl_task, complete_ghl_task, record_rz_visit)`}},
		{"key of another type", "rules:\n  - {id: a, on: contact, actions: [{type: create_ghl_task, title: x, label: y}]}\n", []string{
			`line 2: rules[0].actions[0].label: unknown key (allowed: type, title, title_expr, body, body_expr, due_in_days)`}},
		{"label missing", "rules:\n  - {id: a, on: contact, actions: [{type: add_ghl_tag}]}\n", []string{
			`line 2: rules[0].actions[0]: label (or label_expr) is required`}},
		{"label and expr", "rules:\n  - {id: a, on: contact, actions: [{type: add_ghl_tag, label: x, label_expr: '\"y\"'}]}\n", []string{
			`line 2: rules[0].actions[0]: give label or label_expr, not both`}},
		{"label expr type", "rules:\n  - {id: a, on: contact, actions: [{type: add_ghl_tag, label_expr: 'person.dnd'}]}\n", []string{
			`line 2: rules[0].actions[0].label_expr: must evaluate to string, not bool`}},
		{"title missing", "rules:\n  - {id: a, on: contact, actions: [{type: create_ghl_task, body: x}]}\n", []string{
			`line 2: rules[0].actions[0]: title (or title_expr) is required`}},
		{"due days", "rules:\n  - {id: a, on: contact, actions: [{type: create_ghl_task, title: x, due_in_days: -1}]}\n", []string{
			`line 2: rules[0].actions[0].due_in_days: must be between 0 and 3650, not -1`}},
		{"complete what", "rules:\n  - {id: a, on: contact, actions: [{type: complete_ghl_task}]}\n", []string{
			`line 2: rules[0].actions[0]: give title (or title_expr) and/or created_by to say which tasks to complete`}},
		{"created_by unknown", "rules:\n  - {id: a, on: contact, actions: [{type: complete_ghl_task, created_by: b}]}\n", []string{
			`line 2: rules[0].actions[0].created_by: no rule "b" creates tasks`}},
		{"visit points", "rules:\n  - {id: a, on: appointments, actions: [{type: record_rz_visit, points: lots}]}\n", []string{
			`line 2: rules[0].actions[0].points: must be a whole number`}},
		{"several at once", "phone_region: XX\nfields:\n  emial: both\ndelete_policy: nope\n", []string{
			`line 1: phone_region: unknown region "XX": want an ISO 3166 two-letter code such as US, GB or DE`,
			`line 3: fields.emial: unknown key (did you mean "email"?)`,
			`line 4: delete_policy: unknown delete policy "nope" (allowed: propagate, label, ignore)`}},
		{"JSON lines", "{\n  \"fields\": {\n    \"email\": {\"direction\": \"sideways\"}\n  }\n}", []string{
			`line 3: fields.email.direction: unknown direction "sideways" (allowed: ghl->rz, rz->ghl, both, ghl→rz, rz→ghl)`}},
		{"not a mapping", "- a\n- b\n", []string{`line 1: must be a mapping of keys to values, not a list`}},
		{"empty document", "", []string{`the document is empty`}},
		{"only comments", "# nothing\n", []string{`the document is empty`}},
		{"two documents", "version: 1\n---\nversion: 1\n", []string{`line 2: the document must hold exactly one YAML document`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMapping([]byte(tt.doc))
			if m != nil || err == nil {
				t.Fatalf("ParseMapping = %v, %v; want an error", m, err)
			}
			var ces ConfigErrors
			if !errors.As(err, &ces) {
				t.Fatalf("error %v (%T) is not ConfigErrors", err, err)
			}
			var got []string
			for _, e := range ces {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMappingSyntaxAndSize(t *testing.T) {
	_, err := ParseMapping([]byte("fields: {email: [\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "mapping document is not valid YAML or JSON: yaml: line") {
		t.Errorf("syntax error = %v", err)
	}
	_, err = ParseMapping([]byte(strings.Repeat("#", maxDocumentSize+1)))
	if want := "mapping document is 262145 bytes; the limit is 262144"; err == nil || err.Error() != want {
		t.Errorf("size error = %v, want %q", err, want)
	}
}

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute, "0d": 0} {
		if got, err := parseAge(in); err != nil || got != want {
			t.Errorf("parseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"xd", "3651d", "1w", ""} {
		if _, err := parseAge(in); err == nil {
			t.Errorf("parseAge(%q) accepted", in)
		}
	}
}

func TestConfigErrorsMessage(t *testing.T) {
	one := ConfigErrors{{Path: "a", Line: 2, Msg: "bad"}}
	if got, want := one.Error(), "invalid mapping: line 2: a: bad"; got != want {
		t.Errorf("one = %q, want %q", got, want)
	}
	two := ConfigErrors{{Path: "a", Line: 2, Msg: "bad"}, {Msg: "worse"}}
	if got, want := two.Error(), "invalid mapping (2 problems): line 2: a: bad; worse"; got != want {
		t.Errorf("two = %q, want %q", got, want)
	}
}

func TestParseMappingAliasesAndShorthand(t *testing.T) {
	m := mustMapping(t, `
fields:
  email: &both {direction: both, conflict: rz-wins}
  phone: *both
  firstName: rz→ghl
`)
	want := []FieldRule{
		{Name: FieldFirstName, Direction: RZToGHL},
		{Name: FieldEmail, Direction: Both, Conflict: RZWins},
		{Name: FieldPhone, Direction: Both, Conflict: RZWins},
	}
	if diff := cmp.Diff(want, m.Fields(), ignoreCompiled, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCustomFieldConversion(t *testing.T) {
	m := mustMapping(t, mixedMapping)
	fromGHL := m.CustomFromSide(SideGHL, map[string]string{"cf1": "gold", "cf2": "run 5k", "unmapped": "x", "Level": "no"})
	if diff := cmp.Diff(map[string]string{"level": "gold", "goal": "run 5k"}, fromGHL); diff != "" {
		t.Errorf("from HighLevel (-want +got):\n%s", diff)
	}
	fromRZ := m.CustomFromSide(SideRZ, map[string]string{"Level": "GOLD", "Goal": " ", "cf1": "no"})
	if diff := cmp.Diff(map[string]string{"level": "GOLD"}, fromRZ); diff != "" {
		t.Errorf("from Referrizer (-want +got):\n%s", diff)
	}
	toRZ := m.CustomToSide(SideRZ, map[string]string{"level": "GOLD", "goal": "", "other": "x"})
	if diff := cmp.Diff(map[string]string{"Level": "GOLD", "Goal": ""}, toRZ); diff != "" {
		t.Errorf("to Referrizer (-want +got):\n%s", diff)
	}
	toGHL := m.CustomToSide(SideGHL, map[string]string{"level": "gold"})
	if diff := cmp.Diff(map[string]string{"cf1": "gold"}, toGHL); diff != "" {
		t.Errorf("to HighLevel (-want +got):\n%s", diff)
	}
}

func TestAccessorsReturnCopies(t *testing.T) {
	m := mustMapping(t, mixedMapping)
	fs := m.Fields()
	fs[0].Name = "changed"
	fs[len(fs)-1].Exclude[0] = "changed"
	cs := m.CustomFields()
	cs[0].Key = "changed"
	if f, _ := m.Field(FieldTags); f.Exclude[0] != "src-*" || m.Fields()[0].Name != FieldFirstName || m.CustomFields()[0].Key != "goal" {
		t.Error("accessors must not expose the mapping's own slices")
	}
}
