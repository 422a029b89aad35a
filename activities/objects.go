package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// TagPlan is the tags child's plan (a tags ObjectPlan's Plan): set deltas per side against
// the last synced set.
type TagPlan struct {
	GHLAdd    []string `json:"ghlAdd,omitempty"`
	GHLRemove []string `json:"ghlRemove,omitempty"`
	RZAdd     []string `json:"rzAdd,omitempty"`
	RZRemove  []string `json:"rzRemove,omitempty"`
	// Actions are contact rule actions the tags after this pass call for: a tag or label
	// change reaches only this child, and contact rules may test person.tags.
	Actions []syncmodel.Action `json:"actions,omitempty"`
}

// PlanTags merges HighLevel tags and Referrizer labels as sets: adds and removes since the
// last synced set move across, and nothing else, so a tag neither side removed survives.
func (o *Objects) PlanTags(ctx context.Context, in domain.PlanInput) (ObjectPlan, error) {
	conn, link, err := o.resolve(ctx, in.Ref)
	if errors.Is(err, errLinkGone) {
		return ObjectPlan{Ref: in.Ref, Summary: linkGoneSummary}, nil
	}
	if err != nil {
		return ObjectPlan{}, err
	}
	out := ObjectPlan{Ref: in.Ref, Object: ObjTags}
	if link.GHLContactID == "" || link.RZContactID == "" || link.Deleted {
		out.Summary = "person not on both sides"
		return out, nil
	}
	var base []string
	entry, hasBase, err := o.loadBase(ctx, in.Ref, ObjTags, &base)
	if err != nil {
		return out, err
	}
	s, err := o.fetch(ctx, o.ObservationTTL, conn, link, in.Events, entry.UpdatedAt)
	if err != nil {
		return out, err
	}
	if s.ghl == nil || s.rz == nil {
		out.Summary = "person gone on a side"
		return out, nil
	}
	m := conn.Mapping
	ghlTags, rzTags := m.SyncedTags(s.ghl.Tags), m.SyncedTags(s.rz.Labels)
	var basePtr []string
	if hasBase {
		basePtr = base
	}
	merged := m.MergeTags(basePtr, ghlTags, rzTags, hasBase)
	p := TagPlan{GHLAdd: merged.GHLAdd, GHLRemove: merged.GHLRemove, RZAdd: merged.RZAdd, RZRemove: merged.RZRemove}
	if p.Actions, err = o.tagRules(ctx, in, conn, link, s, p); err != nil {
		return ObjectPlan{}, err
	}
	out.Plan, _ = json.Marshal(p)
	out.Writes = len(p.GHLAdd)+len(p.GHLRemove)+len(p.RZAdd)+len(p.RZRemove)+len(p.Actions) > 0
	out.Base, _ = json.Marshal(merged.Result)
	out.BaseHash = syncmodel.TagsHash(merged.Result)
	out.GHLHash, out.RZHash = out.BaseHash, out.BaseHash
	out.NeedsBase = !hasBase || syncmodel.TagsHash(base) != out.BaseHash
	out.Changed = len(p.GHLAdd)+len(p.GHLRemove)+len(p.RZAdd)+len(p.RZRemove) > 0
	out.Summary = summarizeTags(p)
	if len(p.Actions) > 0 {
		out.Summary += fmt.Sprintf("; %d rule actions", len(p.Actions))
	}
	return out, nil
}

// ApplyTags applies tag deltas: HighLevel's add/remove endpoints and a Referrizer label
// patch are both idempotent.
func (o *Objects) ApplyTags(ctx context.Context, p ObjectPlan) (ApplyResult, error) {
	conn, link, err := o.resolve(ctx, p.Ref)
	if errors.Is(err, errLinkGone) {
		return ApplyResult{Summary: linkGoneSummary}, nil
	}
	if err != nil {
		return ApplyResult{}, err
	}
	var tp TagPlan
	if err := json.Unmarshal(p.Plan, &tp); err != nil && len(p.Plan) > 0 {
		return ApplyResult{}, asTemporalError("decode plan", err)
	}
	res := ApplyResult{}
	if len(tp.GHLAdd)+len(tp.GHLRemove) > 0 {
		if err := o.expectGHL(ctx, p.Ref, ObjTags, p.GHLHash); err != nil {
			return res, err
		}
	}
	if len(tp.GHLAdd) > 0 {
		if _, err := conn.GHL.AddTags(ctx, link.GHLContactID, tp.GHLAdd); err != nil {
			return res, asTemporalError("add HighLevel tags", err)
		}
		res.GHLWrites++
	}
	if len(tp.GHLRemove) > 0 {
		if _, err := conn.GHL.RemoveTags(ctx, link.GHLContactID, tp.GHLRemove); err != nil {
			return res, asTemporalError("remove HighLevel tags", err)
		}
		res.GHLWrites++
	}
	if len(tp.RZAdd)+len(tp.RZRemove) > 0 {
		if _, err := o.updateRZ(ctx, conn, link.RZContactID, referrizer.ContactPatch{AddLabels: tp.RZAdd, RemoveLabels: tp.RZRemove}, nil); err != nil {
			return res, asTemporalError("update Referrizer labels", err)
		}
		res.RZWrites++
	}
	if err := o.runActions(ctx, conn, link, tp.Actions, &res); err != nil {
		return res, err
	}
	if err := o.recordBase(ctx, p); err != nil {
		return res, err
	}
	o.countWrites(res)
	return res, nil
}

// tagRules evaluates the contact rules for the person as this tags pass leaves them (the
// subject side's tags with this pass's adds and removes), seen from the side the events came
// from, as a contact pass would: a tag or label change reaches only this child, and contact
// rules may test person.tags. A failed task read fails the plan (it is retried: rules that
// complete tasks must see them); a failed evaluation is a dead letter, as on contact passes.
func (o *Objects) tagRules(ctx context.Context, in domain.PlanInput, conn *connector.Conn, link store.Link, s sides, tp TagPlan) ([]syncmodel.Action, error) {
	m := conn.Mapping
	ev := syncmodel.Event{Kind: syncmodel.EventContact, Side: syncmodel.SideGHL, ContactID: link.GHLContactID, OtherContactID: link.RZContactID}
	subject, add, remove := GHLPerson(m, s.ghl), tp.GHLAdd, tp.GHLRemove
	if rzSourced(in.Events) {
		ev.Side, ev.ContactID, ev.OtherContactID = syncmodel.SideRZ, link.RZContactID, link.GHLContactID
		subject, add, remove = RZPerson(m, s.rz), tp.RZAdd, tp.RZRemove
	}
	if subject == nil {
		return nil, nil
	}
	tasks, err := contactRuleTasks(ctx, conn, link.GHLContactID)
	if err != nil {
		return nil, err
	}
	ev.Tasks = tasks
	p := *subject
	p.Tags = slices.DeleteFunc(append(slices.Clone(p.Tags), add...), func(t string) bool {
		return slices.ContainsFunc(remove, func(r string) bool { return strings.EqualFold(r, t) })
	})
	if err := o.contactOccurrences(ctx, in, m, &ev, p); err != nil {
		return nil, err
	}
	done, err := o.doneActions(ctx, in.Ref)
	if err != nil {
		return nil, err
	}
	actions, err := m.EvaluateRules(ev, p, link.ID, done...)
	if err != nil {
		if err := o.ruleFailure(ctx, in, "contact", err); err != nil {
			return nil, err
		}
	}
	return actions, nil
}

func summarizeTags(p TagPlan) string {
	var parts []string
	add := func(side string, plus, minus []string) {
		if len(plus)+len(minus) == 0 {
			return
		}
		var b strings.Builder
		b.WriteString(side + ":")
		for _, t := range plus {
			b.WriteString(" +" + t)
		}
		for _, t := range minus {
			b.WriteString(" -" + t)
		}
		parts = append(parts, b.String())
	}
	add("HighLevel", p.GHLAdd, p.GHLRemove)
	add("Referrizer", p.RZAdd, p.RZRemove)
	if len(parts) == 0 {
		return "tags in sync"
	}
	return strings.Join(parts, "; ")
}

// ProjectionPlan is the notes or tasks child's plan (their ObjectPlan's Plan): the Referrizer
// projection to write.
type ProjectionPlan struct {
	Field       string   `json:"field"`
	Text        string   `json:"text"`
	AddLabels   []string `json:"addLabels,omitempty"`
	RemoveLabel []string `json:"removeLabels,omitempty"`
	// Actions are rule actions to run (tasks to create or complete, labels, visits).
	Actions []syncmodel.Action `json:"actions,omitempty"`
}

// PlanNotes renders the person's HighLevel notes into the Referrizer notes digest; nothing
// is written when the digest equals the one last written.
func (o *Objects) PlanNotes(ctx context.Context, in domain.PlanInput) (ObjectPlan, error) {
	conn, link, err := o.resolve(ctx, in.Ref)
	if errors.Is(err, errLinkGone) {
		return ObjectPlan{Ref: in.Ref, Summary: linkGoneSummary}, nil
	}
	if err != nil {
		return ObjectPlan{}, err
	}
	out := ObjectPlan{Ref: in.Ref, Object: ObjNotes}
	if link.GHLContactID == "" || link.RZContactID == "" || link.Deleted {
		out.Summary = "person not on both sides"
		return out, nil
	}
	notes, err := conn.GHL.ListNotes(ctx, link.GHLContactID)
	if errors.Is(err, ghl.ErrNotFound) {
		out.Summary = "HighLevel contact gone"
		return out, nil
	}
	if err != nil {
		return out, asTemporalError("list HighLevel notes", err)
	}
	m := conn.Mapping
	digest := m.RenderNotesDigest(notesOf(notes))
	pp := ProjectionPlan{Field: m.NotesField(), Text: digest}
	// Note rules see the notes and the person as last synced (ruleSubject).
	person, err := o.ruleSubject(ctx, in.Ref)
	if err != nil {
		return out, err
	}
	done, err := o.doneActions(ctx, in.Ref)
	if err != nil {
		return out, err
	}
	actions, err := m.EvaluateRules(syncmodel.Event{Kind: syncmodel.EventNotes, Notes: notesOf(notes)}, person, in.LinkID, done...)
	if err != nil {
		if err := o.ruleFailure(ctx, in, "notes", err); err != nil {
			return out, err
		}
	}
	pp.Actions = actions
	return o.finishProjection(ctx, in.Ref, out, pp, len(notes))
}

// PlanTasks renders the person's HighLevel tasks into the Referrizer tasks digest and status
// labels, and evaluates the task rules.
func (o *Objects) PlanTasks(ctx context.Context, in domain.PlanInput) (ObjectPlan, error) {
	conn, link, err := o.resolve(ctx, in.Ref)
	if errors.Is(err, errLinkGone) {
		return ObjectPlan{Ref: in.Ref, Summary: linkGoneSummary}, nil
	}
	if err != nil {
		return ObjectPlan{}, err
	}
	out := ObjectPlan{Ref: in.Ref, Object: ObjTasks}
	if link.GHLContactID == "" || link.RZContactID == "" || link.Deleted {
		out.Summary = "person not on both sides"
		return out, nil
	}
	tasks, gone, err := o.personTasks(ctx, conn, in, link)
	if gone {
		out.Summary = "HighLevel contact gone"
		return out, nil
	}
	if err != nil {
		return out, err
	}
	m := conn.Mapping
	text, labels := m.RenderTasksDigest(tasksOf(tasks), o.now())
	pp := ProjectionPlan{Field: m.TasksField(), Text: text}
	want := map[string]bool{}
	for _, l := range labels {
		want[l] = true
	}
	for _, l := range m.StatusLabels() {
		if want[l] {
			pp.AddLabels = append(pp.AddLabels, l)
		} else {
			pp.RemoveLabel = append(pp.RemoveLabel, l)
		}
	}
	sort.Strings(pp.AddLabels)
	sort.Strings(pp.RemoveLabel)
	person, err := o.ruleSubject(ctx, in.Ref)
	if err != nil {
		return out, err
	}
	done, err := o.doneActions(ctx, in.Ref)
	if err != nil {
		return out, err
	}
	actions, err := m.EvaluateRules(syncmodel.Event{Kind: syncmodel.EventTasks, Tasks: tasksOf(tasks)}, person, in.LinkID, done...)
	if err != nil {
		if err := o.ruleFailure(ctx, in, "tasks", err); err != nil {
			return out, err
		}
	}
	pp.Actions = actions
	return o.finishProjection(ctx, in.Ref, out, pp, len(tasks))
}

// personTasks reads a person's HighLevel tasks: from the backfill's task scan when the pass
// may use it (scannedTasks), else with a read of the contact's tasks.
func (o *Objects) personTasks(ctx context.Context, conn *connector.Conn, in domain.PlanInput, link store.Link) (tasks []ghl.Task, gone bool, err error) {
	entry, err := o.Store.GetLedger(ctx, in.ConnectionID, in.LinkID, ObjTasks)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, false, asTemporalError("read ledger", err)
	}
	if tasks, ok := o.scannedTasks(ctx, o.ObservationTTL, in.ConnectionID, link.GHLContactID, in.Events, entry.UpdatedAt); ok {
		return tasks, false, nil
	}
	tasks, err = conn.GHL.ListTasks(ctx, link.GHLContactID)
	if errors.Is(err, ghl.ErrNotFound) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, asTemporalError("list HighLevel tasks", err)
	}
	return tasks, false, nil
}

// ruleFailure records a rule that failed to evaluate (a CEL error at run time) as a dead
// letter, never only a log line: the other rules' actions still run, and an operator sees
// the failing rule with the input that made it fail. The same failure of the same person is
// recorded once while its dead letter is open.
func (d *Core) ruleFailure(ctx context.Context, in domain.PlanInput, kind string, ruleErr error) error {
	d.log().Warn("rules failed", "connection", in.ConnectionID, "link", in.LinkID, "on", kind, "error", ruleErr)
	if in.DryRun {
		return nil
	}
	open, err := d.Store.ListDeadLetters(ctx, in.ConnectionID, store.DeadOpen, 500)
	if err != nil {
		return asTemporalError("list dead letters", err)
	}
	dlKind := "Rules." + kind
	for _, dl := range open {
		if dl.LinkID == in.LinkID && dl.Kind == dlKind && dl.Error == ruleErr.Error() {
			return nil
		}
	}
	raw, _ := json.Marshal(in)
	if _, err := d.Store.AddDeadLetter(ctx, store.DeadLetter{ConnectionID: in.ConnectionID, LinkID: in.LinkID, Kind: dlKind, Input: raw, Error: ruleErr.Error()}); err != nil {
		return asTemporalError("record rule failure", err)
	}
	return nil
}

// ruleSubject is the person rules on notes and tasks see: the last synced fields (the
// contact base) and tags (the tags base), read from the ledger, so a notes or tasks pass
// costs no extra API call. A person never synced yet is empty.
func (d *Core) ruleSubject(ctx context.Context, ref domain.Ref) (syncmodel.Person, error) {
	var p syncmodel.Person
	if _, _, err := d.loadBase(ctx, ref, ObjContact, &p); err != nil {
		return syncmodel.Person{}, err
	}
	var tags []string
	if _, has, err := d.loadBase(ctx, ref, ObjTags, &tags); err != nil {
		return syncmodel.Person{}, err
	} else if has {
		p.Tags = tags
	}
	return p, nil
}

// finishProjection compares the rendered projection with what was last written.
func (o *Objects) finishProjection(ctx context.Context, ref domain.Ref, out ObjectPlan, pp ProjectionPlan, count int) (ObjectPlan, error) {
	var base ProjectionPlan
	entry, hasBase, err := o.loadBase(ctx, ref, out.Object, &base)
	if err != nil {
		return out, err
	}
	snap := pp
	snap.Actions = nil
	out.Base, _ = json.Marshal(snap)
	out.BaseHash = syncmodel.HashBytes(out.Base)
	out.RZHash = out.BaseHash
	changed := entry.RZHash != out.RZHash
	if !hasBase {
		// Nothing was ever written: an empty projection needs no write, only a base.
		changed = pp.Text != "" || len(pp.AddLabels) > 0
	}
	out.Writes = changed || len(pp.Actions) > 0
	out.Changed = changed
	out.NeedsBase = out.Writes || !hasBase
	out.Plan, _ = json.Marshal(pp)
	switch {
	case len(pp.Actions) > 0:
		out.Summary = fmt.Sprintf("%d %s, %d rule actions", count, out.Object, len(pp.Actions))
	case out.Writes:
		out.Summary = fmt.Sprintf("re-render %s digest (%d %s)", out.Object, count, out.Object)
	default:
		out.Summary = out.Object + " digest unchanged"
	}
	return out, nil
}

// ApplyNotes writes the notes digest.
func (o *Objects) ApplyNotes(ctx context.Context, p ObjectPlan) (ApplyResult, error) {
	return o.applyProjection(ctx, p)
}

// ApplyTasks writes the tasks digest and status labels, and runs task rule actions.
func (o *Objects) ApplyTasks(ctx context.Context, p ObjectPlan) (ApplyResult, error) {
	return o.applyProjection(ctx, p)
}

func (o *Objects) applyProjection(ctx context.Context, p ObjectPlan) (ApplyResult, error) {
	conn, link, err := o.resolve(ctx, p.Ref)
	if errors.Is(err, errLinkGone) {
		return ApplyResult{Summary: linkGoneSummary}, nil
	}
	if err != nil {
		return ApplyResult{}, err
	}
	var pp ProjectionPlan
	if err := json.Unmarshal(p.Plan, &pp); err != nil {
		return ApplyResult{}, asTemporalError("decode plan", err)
	}
	res := ApplyResult{}
	if !p.Writes {
		// Only the base is new (first pass, nothing to show): writing would cost two calls
		// and could race another write of the same contact.
		return res, o.recordBase(ctx, p)
	}
	if _, err := conn.RZ.EnsureProjectionFields(ctx, referrizer.ProjectionFieldNames{Notes: conn.Mapping.NotesField(), Tasks: conn.Mapping.TasksField()}); err != nil {
		return res, asTemporalError("ensure Referrizer projection fields", err)
	}
	patch := referrizer.ContactPatch{AddLabels: pp.AddLabels, RemoveLabels: pp.RemoveLabel}
	if pp.Text == "" {
		patch.ClearCustomFields = []string{pp.Field}
	} else {
		patch.SetCustomText = map[string]string{pp.Field: pp.Text}
	}
	if _, err := o.updateRZ(ctx, conn, link.RZContactID, patch, nil); err != nil {
		return res, asTemporalError("write Referrizer "+p.Object+" projection", err)
	}
	res.RZWrites++
	if err := o.runActions(ctx, conn, link, pp.Actions, &res); err != nil {
		return res, err
	}
	if err := o.recordBase(ctx, p); err != nil {
		return res, err
	}
	o.countWrites(res)
	return res, nil
}

func (d *Core) recordBase(ctx context.Context, p ObjectPlan) error {
	if err := d.Store.PutLedger(ctx, store.LedgerEntry{
		ConnectionID: p.ConnectionID, LinkID: p.LinkID, Object: p.Object,
		Snapshot: p.Base, Hash: p.BaseHash, GHLHash: p.GHLHash, RZHash: p.RZHash,
	}); err != nil {
		return asTemporalError("record base", err)
	}
	return nil
}

// runActions executes rule actions idempotently: each action carries a key, and a task is
// created only if no task of the person already carries that key in its body. An action
// the API refuses for good (404: the task or contact is gone; 400/422) is a dead letter
// (Rules.action) and is not recorded as done, and the other actions and the pass go on; a
// failure retrying may fix fails the activity, which retries it (and, exhausted, is a
// dead letter too).
func (d *Core) runActions(ctx context.Context, conn *connector.Conn, link store.Link, actions []syncmodel.Action, res *ApplyResult) error {
	if len(actions) == 0 {
		return nil
	}
	var existing []ghl.Task
	var loaded bool
	loadTasks := func() error {
		if loaded {
			return nil
		}
		var err error
		existing, err = conn.GHL.ListTasks(ctx, link.GHLContactID)
		loaded = true
		return err
	}
	for _, a := range actions {
		err := d.runAction(ctx, conn, link, a, res, loadTasks, &existing)
		if refusedForGood(err) {
			if err := d.actionFailure(ctx, link, a, err); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		// Remember the key, so the rule never fires twice for the same occurrence.
		if err := d.Store.PutLedger(ctx, store.LedgerEntry{ConnectionID: link.ConnectionID, LinkID: link.ID, Object: actionObject + a.Key}); err != nil {
			return asTemporalError("record rule action", err)
		}
	}
	return nil
}

// runAction executes one rule action.
func (d *Core) runAction(ctx context.Context, conn *connector.Conn, link store.Link, a syncmodel.Action, res *ApplyResult, loadTasks func() error, existing *[]ghl.Task) error {
	marker := a.TaskMarker
	if marker == "" {
		marker = syncmodel.TaskMarker(a.Key)
	}
	switch a.Type {
	case syncmodel.ActionAddRZLabel, syncmodel.ActionRemoveRZLabel:
		patch := referrizer.ContactPatch{}
		if a.Type == syncmodel.ActionAddRZLabel {
			patch.AddLabels = []string{a.Label}
		} else {
			patch.RemoveLabels = []string{a.Label}
		}
		if _, err := d.updateRZ(ctx, conn, link.RZContactID, patch, nil); err != nil {
			return asTemporalError("rule: Referrizer label", err)
		}
		res.RZWrites++
	case syncmodel.ActionAddGHLTag:
		if _, err := conn.GHL.AddTags(ctx, link.GHLContactID, []string{a.Label}); err != nil {
			return asTemporalError("rule: HighLevel tag", err)
		}
		res.GHLWrites++
	case syncmodel.ActionRemoveGHLTag:
		if _, err := conn.GHL.RemoveTags(ctx, link.GHLContactID, []string{a.Label}); err != nil {
			return asTemporalError("rule: HighLevel tag", err)
		}
		res.GHLWrites++
	case syncmodel.ActionCreateTask:
		if err := loadTasks(); err != nil {
			return asTemporalError("rule: list HighLevel tasks", err)
		}
		if slices.ContainsFunc(a.Markers(), func(m string) bool { return taskWithMarker(*existing, m) != nil }) {
			return nil // created by an earlier attempt or pass
		}
		t, err := conn.GHL.CreateTask(ctx, link.GHLContactID, ghl.NewTask{
			Title: a.Title, Body: strings.TrimSpace(a.Body + "\n\n" + marker), DueDate: d.now().Add(a.Due),
		})
		if err != nil {
			return asTemporalError("rule: create HighLevel task", err)
		}
		*existing = append(*existing, t)
		res.GHLWrites++
	case syncmodel.ActionCompleteTask:
		if _, err := conn.GHL.SetTaskCompleted(ctx, link.GHLContactID, a.TaskID, true); err != nil {
			return asTemporalError("rule: complete HighLevel task", err)
		}
		res.GHLWrites++
	case syncmodel.ActionVisit:
		if err := d.pinAction(ctx, link, &a); err != nil {
			return err
		}
		v := referrizer.Visit{ContactID: link.RZContactID, Date: a.VisitDate}
		if a.Points > 0 {
			pts := float64(a.Points)
			v.Points = &pts
		}
		if _, err := conn.RZ.CreateVisit(ctx, v); err != nil && !errors.Is(err, referrizer.ErrDuplicate) {
			return asTemporalError("rule: record Referrizer visit", err)
		}
		res.RZWrites++
	}
	return nil
}

// refusedForGood reports whether a rule action's error is the API refusing it in a way no
// retry changes: the object is gone (404) or the request is invalid.
func refusedForGood(err error) bool {
	return errors.Is(err, ghl.ErrNotFound) || errors.Is(err, referrizer.ErrNotFound) ||
		errors.Is(err, ghl.ErrValidation) || errors.Is(err, referrizer.ErrValidation)
}

// actionFailure records a rule action the API refused for good as a dead letter
// (Rules.action, once while it is open), naming the rule, the action and its trigger.
func (d *Core) actionFailure(ctx context.Context, link store.Link, a syncmodel.Action, err error) error {
	return d.ruleFailure(ctx, domain.PlanInput{Ref: domain.Ref{ConnectionID: link.ConnectionID, LinkID: link.ID}}, "action",
		fmt.Errorf("rule %s (%s): action %s: %w", a.Rule, a.Trigger, a.Type, err))
}

// actionObject prefixes the ledger objects that record executed rule actions.
const actionObject = "action:"

// doneActions lists the keys of rule actions already executed for a person.
// A failed read fails the plan (retried): rules evaluated against a partial list would act
// twice.
func (d *Core) doneActions(ctx context.Context, ref domain.Ref) ([]string, error) {
	var keys []string
	after := ""
	for {
		// Ledger entries are per object; rule actions are few per person, so scan them.
		entries, err := d.Store.LedgerEntriesOf(ctx, ref.ConnectionID, ref.LinkID, actionObject, after, 200)
		if err != nil {
			return nil, asTemporalError("read done rule actions", err)
		}
		if len(entries) == 0 {
			return keys, nil
		}
		for _, e := range entries {
			keys = append(keys, strings.TrimPrefix(e.Object, actionObject))
		}
		after = entries[len(entries)-1].Object
	}
}

func taskWithMarker(tasks []ghl.Task, marker string) *ghl.Task {
	for i := range tasks {
		if strings.Contains(tasks[i].Body, marker) {
			return &tasks[i]
		}
	}
	return nil
}

// conditionObject prefixes the ledger objects that hold a contact rule's condition state
// per side (`rulecond:<side>:<rule id>`): whether it held on the last pass from that side,
// and how many times it became true there (see syncmodel.ContactOccurrences).
const conditionObject = "rulecond:"

// contactOccurrences evaluates the contact rules' conditions for a contact event (ev.New
// set), records the states that changed (not on a dry run) and sets ev.Occurrences, so a
// rule fires again when its condition becomes true again.
func (d *Core) contactOccurrences(ctx context.Context, in domain.PlanInput, m *syncmodel.Mapping, ev *syncmodel.Event, p syncmodel.Person) error {
	if !slices.ContainsFunc(m.Rules(), func(r syncmodel.Rule) bool { return r.On == syncmodel.EventContact }) {
		return nil
	}
	prefix := conditionObject + string(ev.Side) + ":"
	prev := map[string]syncmodel.ConditionState{}
	for after := ""; ; {
		entries, err := d.Store.LedgerEntriesOf(ctx, in.ConnectionID, in.LinkID, prefix, after, 200)
		if err != nil {
			return asTemporalError("read rule condition states", err)
		}
		if len(entries) == 0 {
			break
		}
		for _, e := range entries {
			var st syncmodel.ConditionState
			if err := json.Unmarshal(e.Snapshot, &st); err != nil {
				return asTemporalError("decode rule condition state", err)
			}
			prev[strings.TrimPrefix(e.Object, prefix)] = st
		}
		after = entries[len(entries)-1].Object
	}
	next := m.ContactOccurrences(*ev, p, prev)
	ev.Occurrences = syncmodel.OccurrenceNumbers(next)
	if in.DryRun {
		return nil
	}
	ids := slices.Sorted(maps.Keys(next))
	for _, id := range ids {
		if next[id] == prev[id] {
			continue
		}
		raw, _ := json.Marshal(next[id])
		if err := d.Store.PutLedger(ctx, store.LedgerEntry{ConnectionID: in.ConnectionID, LinkID: in.LinkID, Object: prefix + id, Snapshot: raw}); err != nil {
			return asTemporalError("record rule condition state", err)
		}
	}
	return nil
}
