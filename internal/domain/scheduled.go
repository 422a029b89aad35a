package domain

import (
	"encoding/json"
	"time"
)

// PollInput asks for one Referrizer poll of a connection.
type PollInput struct {
	ConnectionID string `json:"connectionId"`
	PageSize     int    `json:"pageSize"`
}

// ReconcileInput asks for one reconcile run of a connection. Zero durations take the
// connection's settings, else the defaults (see activities.ReconcileKnobs).
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

// Add accumulates a step's counts.
func (r *ReconcileResult) Add(o ReconcileResult) {
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

// Schedule defaults.
const (
	DefaultPollInterval      = 5 * time.Minute
	DefaultReconcileInterval = 30 * time.Minute
	DefaultReconcileShare    = 0.2 // of the HighLevel rate budget
	DefaultReconcileMax      = 500 // people whose tasks one run re-reads (single-activity reconcile)
	DefaultReconcileSteps    = 50  // reconcile steps per workflow run before continue-as-new
)
