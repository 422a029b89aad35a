package syncmodel

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxDocumentSize bounds a mapping document; real ones are a few KiB.
const maxDocumentSize = 256 << 10

// Config keys, per level. The README lists each with its meaning.
var (
	topKeys         = []string{"version", "phone_region", "fields", "custom_fields", "delete_policy", "deleted_label", "projections", "rules"}
	fieldNames      = []string{FieldFirstName, FieldLastName, FieldEmail, FieldPhone, FieldDND, FieldTags}
	fieldKeys       = []string{"direction", "conflict", "transform", "exclude"}
	customKeys      = []string{"key", "ghl", "rz", "direction", "conflict", "transform"}
	projectionKeys  = []string{"notes", "tasks"}
	notesKeys       = []string{"field", "max_length"}
	tasksKeys       = []string{"field", "max_length", "keep_completed_for", "open_label", "overdue_label"}
	ruleKeys        = []string{"id", "on", "when", "actions"}
	eventKinds      = []string{string(EventContact), string(EventNotes), string(EventTasks), string(EventAppointments)}
	actionTypes     = []string{string(ActionAddRZLabel), string(ActionRemoveRZLabel), string(ActionAddGHLTag), string(ActionRemoveGHLTag), string(ActionCreateTask), string(ActionCompleteTask), string(ActionVisit)}
	conflictNames   = []string{string(GHLWins), string(RZWins), string(NewestWins)}
	deletePolicies  = []string{string(DeletePropagate), string(DeleteLabel), string(DeleteIgnore)}
	directionSpells = []string{"ghl->rz", "rz->ghl", "both", "ghl→rz", "rz→ghl"}
	ruleIDPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// actionKeys lists the keys each action type accepts besides "type".
func actionKeys(t ActionType) []string {
	switch {
	case t.labelled():
		return []string{"type", "label", "label_expr"}
	case t == ActionCreateTask:
		return []string{"type", "title", "title_expr", "body", "body_expr", "due_in_days"}
	case t == ActionCompleteTask:
		return []string{"type", "title", "title_expr", "created_by"}
	case t == ActionVisit:
		return []string{"type", "points"}
	}
	return []string{"type"}
}

// ParseMapping parses, validates and compiles a mapping document, YAML or JSON (JSON is read
// as YAML, so errors carry lines for both). Keys left out take their defaults (see
// DefaultMappingYAML); `fields`, when present, is the complete list of synced built-in
// fields. Every problem is reported (as ConfigErrors) with its key path and line; unknown keys
// are errors.
func ParseMapping(doc []byte) (*Mapping, error) {
	if len(doc) > maxDocumentSize {
		return nil, fmt.Errorf("mapping document is %d bytes; the limit is %d", len(doc), maxDocumentSize)
	}
	root, err := parseDocument(doc)
	if err != nil {
		return nil, err
	}
	b := &builder{m: &Mapping{
		region:       "US",
		deletePolicy: DeleteLabel,
		deletedLabel: "hlrz-deleted",
		notes:        NotesProjection{Field: "GHL Notes", MaxLength: 2000},
		tasks: TasksProjection{Field: "GHL Tasks", MaxLength: 2000, KeepCompleted: 7 * 24 * time.Hour,
			OpenLabel: "ghl-task-open", OverdueLabel: "ghl-task-overdue"},
	}}
	b.document(root)
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	return b.m, nil
}

// parseDocument decodes exactly one YAML (or JSON) document.
func parseDocument(doc []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	var n yaml.Node
	if err := dec.Decode(&n); errors.Is(err, io.EOF) {
		return nil, ConfigErrors{{Msg: "the document is empty"}}
	} else if err != nil {
		return nil, fmt.Errorf("mapping document is not valid YAML or JSON: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, ConfigErrors{{Line: extra.Line, Msg: "the document must hold exactly one YAML document"}}
	}
	if n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
		return nil, ConfigErrors{{Msg: "the document is empty"}}
	}
	return n.Content[0], nil
}

// builder turns the document into a Mapping.
type builder struct {
	walker
	m          *Mapping
	fields     []FieldRule
	haveFields bool
	rzNames    map[string]*yaml.Node // custom field Referrizer names, for collision checks
	createdBy  []pendingRef          // complete_ghl_task created_by, checked once all rules are known
}

type pendingRef struct {
	rule string
	node *yaml.Node
	path string
}

func (b *builder) document(root *yaml.Node) {
	var customs []FieldRule
	labelNodes := map[string]*yaml.Node{}
	b.mapping(root, "", topKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			if n, ok := b.integer(v, key, 0, 1<<30); ok && n != 1 {
				b.fail(v, key, "unsupported version %d (this build reads version 1)", n)
			}
		case "phone_region":
			if s, ok := b.str(v, key); ok {
				s = strings.ToUpper(s)
				if !validRegion(s) {
					b.fail(v, key, "unknown region %q: want an ISO 3166 two-letter code such as US, GB or DE", s)
					return
				}
				b.m.region = s
			}
		case "fields":
			b.haveFields = true
			b.mapping(v, key, fieldNames, func(name string, _, fv *yaml.Node) {
				if f, ok := b.fieldSpec(name, fv, joinPath(key, name)); ok {
					b.fields = append(b.fields, f)
				}
			})
		case "custom_fields":
			customs = b.customFields(v, key)
		case "delete_policy":
			if s, ok := b.str(v, key); ok {
				if !contains(deletePolicies, s) {
					b.fail(v, key, "unknown delete policy %q%s", s, hint(s, deletePolicies))
					return
				}
				b.m.deletePolicy = DeletePolicy(s)
			}
		case "deleted_label":
			if s, ok := b.label(v, key); ok {
				b.m.deletedLabel, labelNodes[key] = s, v
			}
		case "projections":
			b.projections(v, key, labelNodes)
		case "rules":
			b.rules(v, key)
		}
	})
	b.crossCheck(labelNodes)
	b.finishFields(customs)
}

func (b *builder) projections(n *yaml.Node, path string, labels map[string]*yaml.Node) {
	b.mapping(n, path, projectionKeys, func(key string, _, v *yaml.Node) {
		pp := joinPath(path, key)
		switch key {
		case "notes":
			b.mapping(v, pp, notesKeys, func(k string, _, v *yaml.Node) {
				switch k {
				case "field":
					if s, ok := b.label(v, joinPath(pp, k)); ok {
						b.m.notes.Field, labels[joinPath(pp, k)] = s, v
					}
				case "max_length":
					if i, ok := b.integer(v, joinPath(pp, k), 80, 100_000); ok {
						b.m.notes.MaxLength = i
					}
				}
			})
		case "tasks":
			b.mapping(v, pp, tasksKeys, func(k string, _, v *yaml.Node) {
				kp := joinPath(pp, k)
				switch k {
				case "field":
					if s, ok := b.label(v, kp); ok {
						b.m.tasks.Field, labels[kp] = s, v
					}
				case "max_length":
					if i, ok := b.integer(v, kp, 80, 100_000); ok {
						b.m.tasks.MaxLength = i
					}
				case "keep_completed_for":
					if s, ok := b.str(v, kp); ok {
						d, err := parseAge(s)
						if err != nil {
							b.fail(v, kp, "%v", err)
							return
						}
						b.m.tasks.KeepCompleted = d
					}
				case "open_label":
					if s, ok := b.label(v, kp); ok {
						b.m.tasks.OpenLabel, labels[kp] = s, v
					}
				case "overdue_label":
					if s, ok := b.label(v, kp); ok {
						b.m.tasks.OverdueLabel, labels[kp] = s, v
					}
				}
			})
		}
	})
}

// parseAge reads "7d", "36h", "90m" or "0": days are not a Go duration unit but are what
// operators think in.
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 7d, 36h or 0", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 7d, 36h or 0", s)
		}
	}
	if d < 0 || d > 3650*24*time.Hour {
		return 0, fmt.Errorf("%q must be between 0 and 3650d", s)
	}
	return d, nil
}

// crossCheck validates names that must not collide.
func (b *builder) crossCheck(labels map[string]*yaml.Node) {
	m := b.m
	if strings.EqualFold(m.notes.Field, m.tasks.Field) {
		b.fail(labels["projections.tasks.field"], "projections.tasks.field", "must differ from projections.notes.field (%q)", m.notes.Field)
	}
	for _, p := range []struct{ path, name string }{{"projections.notes.field", m.notes.Field}, {"projections.tasks.field", m.tasks.Field}} {
		if n := b.rzNames[strings.ToLower(p.name)]; n != nil {
			b.fail(n, "custom_fields", "Referrizer custom field %q is the %s: pick another name", p.name, p.path)
		}
	}
	names := []struct{ path, label string }{
		{"deleted_label", m.deletedLabel},
		{"projections.tasks.open_label", m.tasks.OpenLabel},
		{"projections.tasks.overdue_label", m.tasks.OverdueLabel},
	}
	for i := range names {
		for j := range i {
			if tagKey(names[i].label) != tagKey(names[j].label) {
				continue
			}
			// Blame the one the document sets; the other may be a default.
			at, other := names[i], names[j]
			if labels[at.path] == nil {
				at, other = other, at
			}
			b.fail(labels[at.path], at.path, "must differ from %s (%q)", other.path, other.label)
		}
	}
	for _, ref := range b.createdBy {
		i := slices.IndexFunc(b.m.rules, func(r *Rule) bool { return r.ID == ref.rule })
		if i < 0 || !slices.ContainsFunc(b.m.rules[i].Actions, func(a ActionSpec) bool { return a.Type == ActionCreateTask }) {
			b.fail(ref.node, ref.path, "no rule %q creates tasks", ref.rule)
		}
	}
}

// finishFields orders the field rules: built-in scalars, custom fields by key, then tags.
func (b *builder) finishFields(customs []FieldRule) {
	fields := b.fields
	if !b.haveFields {
		fields = defaultFields()
	}
	var out []FieldRule
	for _, name := range builtinFields {
		if i := slices.IndexFunc(fields, func(f FieldRule) bool { return f.Name == name }); i >= 0 {
			out = append(out, fields[i])
		}
	}
	slices.SortFunc(customs, func(x, y FieldRule) int { return strings.Compare(x.Name, y.Name) })
	slices.SortFunc(b.m.custom, func(x, y CustomField) int { return strings.Compare(x.Key, y.Key) })
	out = append(out, customs...)
	if i := slices.IndexFunc(fields, func(f FieldRule) bool { return f.Name == FieldTags }); i >= 0 {
		out = append(out, fields[i])
	}
	b.m.fields = out
	b.m.byName = make(map[string]*FieldRule, len(out))
	for i := range b.m.fields {
		b.m.byName[b.m.fields[i].Name] = &b.m.fields[i]
	}
}
