package syncmodel

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
)

// EventKind selects which rules an event runs, and what their condition can see.
type EventKind string

// Event kinds. A rule on notes, tasks or appointments runs once per note, task or
// appointment of the event (bound to `note`, `task` or `appointment`); that object is the
// rule's trigger. A rule on contact runs once per event; the person on event.side is the
// trigger.
const (
	EventContact      EventKind = "contact"
	EventNotes        EventKind = "notes"
	EventTasks        EventKind = "tasks"
	EventAppointments EventKind = "appointments"
)

// Event is what happened, as rules see it.
type Event struct {
	Kind EventKind `json:"kind"`
	// Side is where a contact event happened.
	Side Side `json:"side,omitempty"`
	// ContactID is the person's id on Side (contact events).
	ContactID string `json:"contactId,omitempty"`
	// OtherContactID is the person's id on the other side, when linked (contact events):
	// with ContactID it names the keys contact actions had when they were keyed per side.
	OtherContactID string `json:"otherContactId,omitempty"`
	// New is true when the person first appeared on Side, e.g. a new Referrizer lead.
	New bool `json:"new,omitempty"`
	// Notes are the person's current HighLevel notes (rules on notes run per note).
	Notes []Note `json:"notes,omitempty"`
	// Tasks are the person's current HighLevel tasks, for every kind: create_ghl_task skips
	// a task that already exists (its body holds the action's TaskMarker), and
	// complete_ghl_task completes only open tasks listed here. Rules on tasks run per task.
	Tasks []Task `json:"tasks,omitempty"`
	// Appointments are HighLevel appointments (rules on appointments run per appointment).
	Appointments []Appointment `json:"appointments,omitempty"`
	// Occurrences (contact events) is, per contact rule id, which occurrence of the rule
	// this pass is: how many times its condition has become true (false before, true now)
	// on passes from Side, from ContactOccurrences. 0 or 1 is the first; a rule fires
	// once per occurrence.
	Occurrences map[string]int `json:"occurrences,omitempty"`
}

// ActionType names what an action does.
type ActionType string

// Action types; the values are also the `type` spellings in mapping documents.
const (
	ActionAddRZLabel    ActionType = "add_rz_label"
	ActionRemoveRZLabel ActionType = "remove_rz_label"
	ActionAddGHLTag     ActionType = "add_ghl_tag"
	ActionRemoveGHLTag  ActionType = "remove_ghl_tag"
	ActionCreateTask    ActionType = "create_ghl_task"
	ActionCompleteTask  ActionType = "complete_ghl_task"
	// ActionVisit records a Referrizer visit, which awards loyalty points: it only ever
	// happens through a rule an operator wrote, never by default.
	ActionVisit ActionType = "record_rz_visit"
)

func (t ActionType) labelled() bool {
	return t == ActionAddRZLabel || t == ActionRemoveRZLabel || t == ActionAddGHLTag || t == ActionRemoveGHLTag
}

// Rule is a configured rule: when the CEL condition holds for an event of kind On, its
// actions run.
type Rule struct {
	ID      string       `json:"id"`
	On      EventKind    `json:"on"`
	When    string       `json:"when,omitempty"` // CEL, bool; empty means always
	Actions []ActionSpec `json:"actions"`

	when cel.Program
	// readsStatus (appointment rules) says the condition reads appointment.status: the
	// appointment reaching another status is then another occurrence.
	readsStatus bool
}

// readsAppointmentStatus matches a condition that reads the appointment's status.
var readsAppointmentStatus = regexp.MustCompile(`\bappointment\s*(\.\s*status\b|\[\s*["']status["']\s*\])`)

// ActionSpec is a configured action. Text values are literal or, in the *Expr variants, CEL
// string expressions over the rule's variables.
type ActionSpec struct {
	Type      ActionType `json:"type"`
	Label     string     `json:"label,omitempty"`
	LabelExpr string     `json:"labelExpr,omitempty"`
	Title     string     `json:"title,omitempty"`
	TitleExpr string     `json:"titleExpr,omitempty"`
	Body      string     `json:"body,omitempty"`
	BodyExpr  string     `json:"bodyExpr,omitempty"`
	// DueInDays is when a created task is due, counted from when it is created.
	DueInDays int `json:"dueInDays,omitempty"`
	// CreatedBy (complete_ghl_task) completes only tasks created by that rule.
	CreatedBy string `json:"createdBy,omitempty"`
	// Points (record_rz_visit) is the loyalty points of the visit; 0 leaves Referrizer's
	// default.
	Points int `json:"points,omitempty"`

	label, title, body cel.Program
}

// Action is one thing a rule decided to do. Key is deterministic (rule id, link, trigger,
// action position, and for label actions the label), so evaluating the same input again
// yields the same key; pass executed keys back to EvaluateRules to never repeat an action.
type Action struct {
	Type    ActionType `json:"type"`
	Rule    string     `json:"rule"`
	Key     string     `json:"key"`
	Trigger string     `json:"trigger"` // e.g. "note:<id>", "contact:rz:<id>"
	Label   string     `json:"label,omitempty"`
	Title   string     `json:"title,omitempty"`
	Body    string     `json:"body,omitempty"`
	// Due is how long after creation a created task is due.
	Due time.Duration `json:"due,omitempty"`
	// TaskID is the task a complete action completes.
	TaskID string `json:"taskId,omitempty"`
	// TaskMarker must be embedded in the body of a created task: it is how a later
	// evaluation sees that the task already exists. For a complete action with created_by it
	// is the marker prefix of the creating rule.
	TaskMarker string `json:"taskMarker,omitempty"`
	// LegacyKeys are keys the same action had before contact actions were keyed per person
	// (per side then): done under one of them is done, and a task carrying one of their
	// markers exists.
	LegacyKeys []string `json:"legacyKeys,omitempty"`
	// VisitDate is the visit's date (the appointment's start), zero for "now".
	VisitDate time.Time `json:"visitDate,omitzero"`
	Points    int       `json:"points,omitempty"`
}

// Markers are the markers a task this create_ghl_task action made carries: its own, or one
// of its legacy keys'.
func (a Action) Markers() []string {
	out := []string{a.TaskMarker}
	if a.TaskMarker == "" {
		out[0] = TaskMarker(a.Key)
	}
	for _, k := range a.LegacyKeys {
		out = append(out, TaskMarker(k))
	}
	return out
}

// TaskMarker is the text a task created by the action with this key carries in its body.
func TaskMarker(key string) string { return "[hlrz:" + key + "]" }

// ruleMarkerPrefix is what every task created by a rule carries: keys start with the rule id.
func ruleMarkerPrefix(ruleID string) string { return "[hlrz:" + ruleID + ":" }

// trigger is one object a rule is evaluated for.
type trigger struct {
	id string
	// key is what the action key is derived from: id, except for a contact event, whose
	// actions are per person ("contact"), whichever side the pass came from; legacy are
	// the per-side ids contact actions were keyed by before.
	key     string
	legacy  []string
	name    string // CEL variable of the subject, "" for contact events
	subject any
	visit   time.Time
	status  string // an appointment's status, lower-cased
}

// occurrence is the trigger as rule r sees it: what identifies one occurrence of r's
// trigger, which its action keys derive from.
//   - contact: the person and the how-manieth time r's condition became true
//     (ev.Occurrences); the first keeps the key contact rules always had, with its legacy
//     per-side keys, so actions done before count as done.
//   - appointments: the appointment, and its status when r's condition reads it (booked
//     and later showed are two occurrences); the key without the status, which such
//     actions had before, counts as done for every status.
//   - notes, tasks: the note or task.
func (t trigger) occurrence(r *Rule, ev Event) trigger {
	switch ev.Kind {
	case EventContact:
		if n := ev.Occurrences[r.ID]; n > 1 {
			t.key, t.legacy = "contact#"+strconv.Itoa(n), nil
		}
	case EventAppointments:
		if r.readsStatus {
			t.key, t.legacy = t.id+"#"+t.status, []string{t.id}
		}
	}
	return t
}

// contactTriggerID is a contact event's trigger id on one side (and, before keys were per
// person, its key).
func contactTriggerID(side Side, id string) string {
	out := "contact:" + string(side)
	if id != "" {
		out += ":" + id
	}
	return out
}

func triggersOf(ev Event) []trigger {
	switch ev.Kind {
	case EventContact:
		id := contactTriggerID(ev.Side, ev.ContactID)
		legacy := []string{id}
		if ev.OtherContactID != "" {
			other := SideRZ
			if ev.Side == SideRZ {
				other = SideGHL
			}
			legacy = append(legacy, contactTriggerID(other, ev.OtherContactID))
		}
		return []trigger{{id: id, key: "contact", legacy: legacy}}
	case EventNotes:
		notes := slices.Clone(ev.Notes)
		slices.SortFunc(notes, func(a, b Note) int {
			return cmpTimeID(a.DateAdded, b.DateAdded, a.ID, b.ID)
		})
		out := make([]trigger, len(notes))
		for i, n := range notes {
			out[i] = trigger{id: "note:" + n.ID, name: "note",
				subject: celNote{ID: n.ID, Body: plainText(n.Body), DateAdded: n.DateAdded}}
		}
		return out
	case EventTasks:
		tasks := slices.Clone(ev.Tasks)
		slices.SortFunc(tasks, func(a, b Task) int { return cmpTimeID(a.DueDate, b.DueDate, a.ID, b.ID) })
		out := make([]trigger, len(tasks))
		for i, t := range tasks {
			out[i] = trigger{id: "task:" + t.ID, name: "task", subject: celTask{ID: t.ID, Title: t.Title,
				Body: plainText(t.Body), DueDate: t.DueDate, Completed: t.Completed}}
		}
		return out
	case EventAppointments:
		appts := slices.Clone(ev.Appointments)
		slices.SortFunc(appts, func(a, b Appointment) int { return cmpTimeID(a.StartTime, b.StartTime, a.ID, b.ID) })
		out := make([]trigger, len(appts))
		for i, a := range appts {
			out[i] = trigger{id: "appointment:" + a.ID, name: "appointment", visit: a.StartTime,
				status: strings.ToLower(strings.TrimSpace(a.Status)), subject: celAppointment(a)}
		}
		return out
	}
	return nil
}

func cmpTimeID(a, b time.Time, ida, idb string) int {
	if c := a.Compare(b); c != 0 {
		return c
	}
	return strings.Compare(ida, idb)
}

// EvaluateRules runs the rules on ev.Kind for person p (normalized first) of the link with
// id link, and returns the actions to take, in rule, trigger and action order.
//
// Idempotency: an action whose key is in done is skipped, a create_ghl_task whose marker is
// already in the body of one of ev.Tasks is skipped, and complete_ghl_task yields one action
// per matching open task in ev.Tasks (none if there is none). A rule that fails at run time
// (e.g. a missing map key) is reported in the joined error; the other rules' actions are
// still returned.
func (m *Mapping) EvaluateRules(ev Event, p Person, link string, done ...string) ([]Action, error) {
	doneSet := make(map[string]bool, len(done))
	for _, k := range done {
		doneSet[k] = true
	}
	base := map[string]any{
		"person": personView(m.Normalize(p)),
		"event":  celEvent{Kind: string(ev.Kind), Side: string(ev.Side), ContactID: ev.ContactID, New: ev.New},
	}
	var out []Action
	var errs []error
	triggers := triggersOf(ev)
	for _, r := range m.rules {
		if r.On != ev.Kind {
			continue
		}
		for _, t := range triggers {
			t = t.occurrence(r, ev)
			vars := base
			if t.name != "" {
				vars = maps.Clone(base)
				vars[t.name] = t.subject
			}
			if r.when != nil {
				ok, err := evalBool(r.when, vars)
				if err != nil {
					errs = append(errs, fmt.Errorf("rule %s (%s): when: %w", r.ID, t.id, err))
					continue
				}
				if !ok {
					continue
				}
			}
			for i := range r.Actions {
				acts, err := r.Actions[i].resolve(r.ID, i, t, link, ev.Tasks, vars)
				if err != nil {
					errs = append(errs, fmt.Errorf("rule %s (%s): action %d (%s): %w", r.ID, t.id, i, r.Actions[i].Type, err))
					continue
				}
				for _, a := range acts {
					if !doneSet[a.Key] && !slices.ContainsFunc(a.LegacyKeys, func(k string) bool { return doneSet[k] }) {
						out = append(out, a)
					}
				}
			}
		}
	}
	return out, errors.Join(errs...)
}

// ConditionState is what a contact rule's condition was on the last pass from one side
// that evaluated it, and how many times it has become true there (its occurrences).
type ConditionState struct {
	Holds       bool `json:"holds,omitempty"`
	Occurrences int  `json:"occurrences,omitempty"`
}

// ContactOccurrences evaluates the conditions of the contact rules for a contact event and
// person p, and returns each rule's state after this pass, given prev (the states of the
// last pass from ev.Side; a rule missing there never held). A condition that holds now
// and did not before is a new occurrence; a rule without a condition always holds, so it
// has one occurrence per person. A condition that fails to evaluate keeps its state (the
// error is EvaluateRules' to report). Set Event.Occurrences from the result.
func (m *Mapping) ContactOccurrences(ev Event, p Person, prev map[string]ConditionState) map[string]ConditionState {
	vars := map[string]any{
		"person": personView(m.Normalize(p)),
		"event":  celEvent{Kind: string(ev.Kind), Side: string(ev.Side), ContactID: ev.ContactID, New: ev.New},
	}
	out := map[string]ConditionState{}
	for _, r := range m.rules {
		if r.On != EventContact {
			continue
		}
		st := prev[r.ID]
		holds := true
		if r.when != nil {
			ok, err := evalBool(r.when, vars)
			if err != nil {
				out[r.ID] = st
				continue
			}
			holds = ok
		}
		if holds && !st.Holds {
			st.Occurrences++
		}
		st.Holds = holds
		out[r.ID] = st
	}
	return out
}

// OccurrenceNumbers is the Event.Occurrences of states.
func OccurrenceNumbers(states map[string]ConditionState) map[string]int {
	out := make(map[string]int, len(states))
	for id, st := range states {
		out[id] = st.Occurrences
	}
	return out
}

// resolve turns one action spec into concrete actions for a trigger.
func (s *ActionSpec) resolve(rule string, idx int, t trigger, link string, tasks []Task, vars map[string]any) ([]Action, error) {
	a := Action{Type: s.Type, Rule: rule, Trigger: t.id}
	keyed := func(a *Action, payload string) {
		k := t.key
		if k == "" {
			k = t.id
		}
		a.Key = actionKey(rule, link, k, idx, payload)
		a.LegacyKeys = nil
		for _, l := range t.legacy {
			a.LegacyKeys = append(a.LegacyKeys, actionKey(rule, link, l, idx, payload))
		}
	}
	switch {
	case s.Type.labelled():
		label, err := textValue(s.Label, s.label, vars)
		if err != nil {
			return nil, fmt.Errorf("label: %w", err)
		}
		if label == "" {
			return nil, errors.New("label is empty")
		}
		a.Label = label
		keyed(&a, tagKey(label))
		return []Action{a}, nil
	case s.Type == ActionCreateTask:
		var err error
		if a.Title, err = textValue(s.Title, s.title, vars); err != nil {
			return nil, fmt.Errorf("title: %w", err)
		}
		if a.Title == "" {
			return nil, errors.New("title is empty")
		}
		if a.Body, err = textValue(s.Body, s.body, vars); err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		a.Due = time.Duration(s.DueInDays) * 24 * time.Hour
		keyed(&a, "")
		a.TaskMarker = TaskMarker(a.Key)
		for _, task := range tasks {
			if slices.ContainsFunc(a.Markers(), func(m string) bool { return strings.Contains(task.Body, m) }) {
				return nil, nil // created by an earlier pass
			}
		}
		return []Action{a}, nil
	case s.Type == ActionCompleteTask:
		return s.completeTasks(a, tasks, vars, keyed)
	case s.Type == ActionVisit:
		a.VisitDate, a.Points = t.visit, s.Points
		keyed(&a, "")
		return []Action{a}, nil
	}
	return nil, fmt.Errorf("unknown action type %q", s.Type)
}

// completeTasks resolves a complete_task action to one action per open task it matches
// (by title and/or the rule that created it), in task id order.
func (s *ActionSpec) completeTasks(a Action, tasks []Task, vars map[string]any, keyed func(*Action, string)) ([]Action, error) {
	title := ""
	if s.Title != "" || s.title != nil {
		var err error
		if title, err = textValue(s.Title, s.title, vars); err != nil {
			return nil, fmt.Errorf("title: %w", err)
		}
	}
	var out []Action
	for _, task := range tasks {
		if task.Completed {
			continue
		}
		if title != "" && !strings.EqualFold(strings.TrimSpace(task.Title), title) {
			continue
		}
		if s.CreatedBy != "" && !strings.Contains(task.Body, ruleMarkerPrefix(s.CreatedBy)) {
			continue
		}
		c := a
		c.TaskID, c.Title = task.ID, task.Title
		if s.CreatedBy != "" {
			c.TaskMarker = ruleMarkerPrefix(s.CreatedBy)
		}
		keyed(&c, "task:"+task.ID)
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y Action) int { return strings.Compare(x.TaskID, y.TaskID) })
	return out, nil
}

// textValue is the literal, or the expression's value when there is one; trimmed.
func textValue(literal string, prg cel.Program, vars map[string]any) (string, error) {
	if prg == nil {
		return strings.TrimSpace(literal), nil
	}
	s, err := evalString(prg, vars)
	return strings.TrimSpace(s), err
}

// actionKey derives an action's idempotency key. It starts with the rule id so tasks of a
// rule can be found by marker prefix (complete_ghl_task created_by).
func actionKey(rule, link, trigger string, idx int, payload string) string {
	h := sha256.Sum256([]byte(strings.Join([]string{rule, link, trigger, strconv.Itoa(idx), payload}, "\x00")))
	return rule + ":" + hex.EncodeToString(h[:6])
}
