package activities

import (
	"encoding/json"
	"time"
)

// Event is the small typed envelope signals carry: what happened and where, never the
// record itself (the workflow re-reads it, since events are only hints).
type Event struct {
	Source     string    `json:"source"`             // SourceGHL, SourceRZ, SourceBackfill, ...
	ID         string    `json:"id,omitempty"`       // delivery id used for dedupe
	Kind       string    `json:"kind"`               // KindContact, KindTags, ...
	ObjectID   string    `json:"objectId,omitempty"` // note or task id, when the event is about one
	OccurredAt time.Time `json:"occurredAt"`
	// ReplyTo names a workflow (a backfill) to signal when the pass handling this event ends.
	ReplyTo string `json:"replyTo,omitempty"`
}

// Event sources.
const (
	SourceGHL       = "ghl"
	SourceRZ        = "rz"
	SourceBackfill  = "backfill"
	SourceReconcile = "reconcile"
	SourceOperator  = "operator"
)

// Event kinds: which part of a person changed.
const (
	KindContact        = "contact"         // fields (name, email, phone, DND, custom fields)
	KindContactDeleted = "contact-deleted" // the person was deleted on the event's side
	KindTags           = "tags"
	KindNotes          = "notes"
	KindTasks          = "tasks"
	KindAppointment    = "appointment"
	KindAll            = "all" // everything: first sync, backfill, operator-requested pass
)

// Ref names one linked person.
type Ref struct {
	ConnectionID string `json:"connectionId"`
	LinkID       string `json:"linkId"`
}

// PlanInput asks for a plan for one person and one object kind.
type PlanInput struct {
	Ref
	Events []Event `json:"events,omitempty"`
	// DryRun plans without recording anything; used by `starter plan`.
	DryRun bool `json:"dryRun,omitempty"`
}

// ContactPlan is the plan for a person's fields, recorded in history as the PlanContact
// activity's result so operators can read exactly what will be written.
type ContactPlan struct {
	Ref
	GHLID string `json:"ghlId,omitempty"`
	RZID  string `json:"rzId,omitempty"`
	// Plan is the sync core's plan (syncmodel.Plan) as JSON.
	Plan    json.RawMessage `json:"plan"`
	Summary string          `json:"summary"`
	// Writes says whether applying touches either side; false with NeedsBase means only the
	// ledger must catch up (e.g. both sides changed to the same value).
	Writes    bool `json:"writes"`
	NeedsBase bool `json:"needsBase"`
	// Created lists the sides on which the person will be created, and CreatedTags the
	// tags the create carries (recorded as the tags base).
	Created     []string `json:"created,omitempty"`
	CreatedTags []string `json:"createdTags,omitempty"`
	// Deleted lists the sides on which the person will be deleted or marked, per policy.
	Deleted   []string `json:"deleted,omitempty"`
	Conflicts int      `json:"conflicts,omitempty"`
	// RZRaw is the Referrizer contact as read while planning; apply PUTs it back merged with
	// the plan instead of reading it again when it is younger than the freshness bound.
	RZRaw     json.RawMessage `json:"rzRaw,omitempty"`
	PlannedAt time.Time       `json:"plannedAt"`
	// GHLHash and RZHash are the projection hashes each side will have after apply.
	GHLHash string `json:"ghlHash,omitempty"`
	RZHash  string `json:"rzHash,omitempty"`
	// Base is the new base snapshot (canonical JSON) and BaseHash its hash.
	Base     json.RawMessage `json:"base,omitempty"`
	BaseHash string          `json:"baseHash,omitempty"`
	// Actions are rule actions triggered by this pass (idempotent).
	Actions json.RawMessage `json:"actions,omitempty"`
	// LinkGone says the link was absorbed into another; the workflow ends.
	LinkGone bool `json:"linkGone,omitempty"`
	// Match is the existing contact matching found on the side the person lacked: apply
	// links it first, and the plan is their first-sync merge (never a create).
	Match *Match `json:"match,omitempty"`
	// Hold is set when matching found the person ambiguous: apply records the hold and a
	// dead letter, and nothing is created. Held says the person was held already.
	Hold *Hold `json:"hold,omitempty"`
	Held bool  `json:"held,omitempty"`
}

// ApplyResult reports what an apply did.
type ApplyResult struct {
	GHLWrites int      `json:"ghlWrites"`
	RZWrites  int      `json:"rzWrites"`
	GHLID     string   `json:"ghlId,omitempty"`
	RZID      string   `json:"rzId,omitempty"`
	Created   []string `json:"created,omitempty"`
	Summary   string   `json:"summary,omitempty"`
	// Rematch says a create found the person already there (HighLevel's or Referrizer's
	// duplicate refusal) or the planned match was taken meanwhile: the contact was linked
	// (or not) and nothing else written; the pass must plan again.
	Rematch bool `json:"rematch,omitempty"`
}

// ObjectPlan is the plan of a child workflow (tags, notes or tasks) for one person.
type ObjectPlan struct {
	Ref
	Object  string `json:"object"` // "tags", "notes", "tasks"
	Summary string `json:"summary"`
	Writes  bool   `json:"writes"`
	// Changed says the object itself changes (tags move, the digest or status labels are
	// rewritten), rule actions aside.
	Changed bool            `json:"changed,omitempty"`
	Plan    json.RawMessage `json:"plan,omitempty"`
	// NeedsBase: nothing to write but the ledger must record the current state.
	NeedsBase bool            `json:"needsBase"`
	Base      json.RawMessage `json:"base,omitempty"`
	BaseHash  string          `json:"baseHash,omitempty"`
	GHLHash   string          `json:"ghlHash,omitempty"`
	RZHash    string          `json:"rzHash,omitempty"`
	Actions   json.RawMessage `json:"actions,omitempty"`
}

// DeadLetterInput records work that failed for good, with what is needed to replay it.
type DeadLetterInput struct {
	Ref
	WorkflowID string    `json:"workflowId"`
	RunID      string    `json:"runId"`
	Kind       string    `json:"kind"`
	Input      PlanInput `json:"input"` // what the failed step was asked to do
	Error      string    `json:"error"`
}

// BackfillPageInput asks for one page of a backfill.
type BackfillPageInput struct {
	ConnectionID string `json:"connectionId"`
	Side         string `json:"side"` // "ghl" or "rz"
	// Cursor is opaque to the workflow: the side's pagination state after the previous page.
	Cursor   string `json:"cursor,omitempty"`
	PageSize int    `json:"pageSize"`
}

// BackfillPageResult is what one backfill page did (the BackfillPage activity's result).
type BackfillPageResult struct {
	Seen       int      `json:"seen"`
	Linked     int      `json:"linked"`     // matched to an existing person on the other side
	New        int      `json:"new"`        // only on this side so far
	Ambiguous  int      `json:"ambiguous"`  // several candidates: reported, not guessed
	LinkIDs    []string `json:"linkIds"`    // people to sync, in order
	NextCursor string   `json:"nextCursor"` // empty when this side is exhausted
	Notes      []string `json:"notes,omitempty"`
}

// StartSyncsInput asks to signal-with-start ContactSync for a batch of people.
type StartSyncsInput struct {
	ConnectionID string   `json:"connectionId"`
	LinkIDs      []string `json:"linkIds"`
	Event        Event    `json:"event"`
}

// PollInput asks for one Referrizer poll of a connection.
type PollInput struct {
	ConnectionID string `json:"connectionId"`
	PageSize     int    `json:"pageSize"`
}

// PollResult reports a poll.
type PollResult struct {
	Pages    int           `json:"pages"`
	Seen     int           `json:"seen"`
	Changed  int           `json:"changed"`
	New      int           `json:"new"`
	Missing  int           `json:"missing"`
	Signals  int           `json:"signals"`
	Calls    int           `json:"calls"`
	Duration time.Duration `json:"duration"`
}

// ReconcileInput asks for one reconcile run of a connection. Zero durations take the
// connection's settings, else the defaults (see ReconcileKnobs).
type ReconcileInput struct {
	ConnectionID string `json:"connectionId"`
	// BudgetShare is the share (0..1] of the HighLevel rate budget the run may use.
	BudgetShare float64 `json:"budgetShare"`
	// MaxPeople bounds the task re-reads of one run of the single-activity reconcile that
	// executions started before the drift repair still run; the rest waits for the next run.
	MaxPeople int `json:"maxPeople"`
	// PageSize is the number of contacts (or people) one step reads. Default 100.
	PageSize int `json:"pageSize,omitempty"`
	// StepsPerRun bounds the steps (activities) of one workflow run; the reconcile then
	// continues as new with its position. Default 50.
	StepsPerRun int `json:"stepsPerRun,omitempty"`
	// Every is how often the reconcile runs (the schedule's interval); the rotating
	// re-reads size each run's share from it.
	Every time.Duration `json:"every,omitempty"`
	// Overlap is how far before the stored high-water mark the change read starts again:
	// contacts HighLevel stamps late or that its search indexes late are not missed.
	Overlap time.Duration `json:"overlap,omitempty"`
	// TasksWithin bounds how long a person with an open task may go without their tasks
	// being re-read (HighLevel sends no TaskUpdate).
	TasksWithin time.Duration `json:"tasksWithin,omitempty"`
	// SweepWithin bounds how long anyone may go without their notes and tasks being re-read
	// (a lost NoteCreate, TaskCreate or NoteUpdate changes nothing the change read sees).
	SweepWithin time.Duration `json:"sweepWithin,omitempty"`
	// DeletesEvery is how often a run lists every HighLevel contact to find deletes.
	DeletesEvery time.Duration `json:"deletesEvery,omitempty"`
	// State is the run's position, carried across continue-as-new.
	State *ReconcileState `json:"state,omitempty"`
}

// Reconcile phases, in order.
const (
	ReconcileChanges   = "changes"    // contacts changed since the high-water mark
	ReconcileOpenTasks = "open-tasks" // rotating re-read of people with open tasks
	ReconcileSweep     = "sweep"      // rotating re-read of everyone's notes and tasks
	ReconcileDeletes   = "deletes"    // full listing to find deletes, when due
	ReconcileDone      = "done"
)

// ReconcileState is a reconcile run's resumable position.
type ReconcileState struct {
	Phase     string          `json:"phase"`
	StartedAt time.Time       `json:"startedAt"`
	Steps     int             `json:"steps"`
	Runs      int             `json:"runs"` // workflow runs (1 + continue-as-new)
	Result    ReconcileResult `json:"result"`
	// SearchAfter continues the change read; nil at its start.
	SearchAfter json.RawMessage `json:"searchAfter,omitempty"`
	Rotation    Rotation        `json:"rotation"`
}

// Rotation is where one run of a rotating re-read is.
type Rotation struct {
	Began bool   `json:"began"`
	Start string `json:"start"` // the stored position when the run began (a link id)
	Pos   string `json:"pos"`   // the last link id read
	// Wrapped says the rotation passed the end of the people and started again.
	Wrapped bool `json:"wrapped"`
	Quota   int  `json:"quota"` // people this run re-reads
	Done    int  `json:"done"`
}

// ReconcileStepResult is what one reconcile step did, and where the run is.
type ReconcileStepResult struct {
	State ReconcileState `json:"state"`
	// PhaseDone says the step finished its phase.
	PhaseDone bool `json:"phaseDone"`
}

// ReconcileResult reports a reconcile run (the `progress` query returns it while it runs).
type ReconcileResult struct {
	TasksChecked   int `json:"tasksChecked"`
	TasksChanged   int `json:"tasksChanged"`
	ContactsListed int `json:"contactsListed"`
	Deleted        int `json:"deleted"`
	Signals        int `json:"signals"`
	Calls          int `json:"calls"`
	Deferred       int `json:"deferred"`
	// Repaired counts HighLevel contacts signalled because they differ from the ledger or
	// no link knows them (webhooks HighLevel gave up on).
	Repaired int `json:"repaired"`
	// ChangesRead are contacts the change read returned, ChangesSignalled those that differ
	// from the ledger (New of them unknown before).
	ChangesRead      int `json:"changesRead,omitempty"`
	ChangesSignalled int `json:"changesSignalled,omitempty"`
	New              int `json:"new,omitempty"`
	// Swept are people whose notes and tasks the sweep re-read; SweepChanged differed.
	Swept        int `json:"swept,omitempty"`
	SweepChanged int `json:"sweepChanged,omitempty"`
	// ListCalls are the list and search pages read (the rest of Calls are per-person reads).
	ListCalls int `json:"listCalls,omitempty"`
	// ChangePages are the list calls of the change read (the rest list everyone for deletes).
	ChangePages int `json:"changePages,omitempty"`
	// DeletesSkipped says the delete listing was not due this run.
	DeletesSkipped bool `json:"deletesSkipped,omitempty"`
	Steps          int  `json:"steps,omitempty"`
}

// add accumulates a step's counts.
func (r *ReconcileResult) add(o ReconcileResult) {
	r.TasksChecked += o.TasksChecked
	r.TasksChanged += o.TasksChanged
	r.ContactsListed += o.ContactsListed
	r.Deleted += o.Deleted
	r.Signals += o.Signals
	r.Calls += o.Calls
	r.Deferred += o.Deferred
	r.ChangesRead += o.ChangesRead
	r.ChangesSignalled += o.ChangesSignalled
	r.New += o.New
	r.Swept += o.Swept
	r.SweepChanged += o.SweepChanged
	r.ListCalls += o.ListCalls
	r.ChangePages += o.ChangePages
	r.Repaired += o.Repaired
}
