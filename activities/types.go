package activities

import (
	"encoding/json"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
)

// ContactPlan is the plan for a person's fields, recorded in history as the PlanContact
// activity's result so operators can read exactly what will be written.
type ContactPlan struct {
	domain.Ref
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
	RZRaw json.RawMessage `json:"rzRaw,omitempty"`
	// GHLSeen is the field projection hash of the HighLevel contact the plan read, and
	// GHLReadAt when it was read: apply reads again before updating fields from a read
	// that is no longer fresh, and plans again when the contact moved.
	GHLSeen   string    `json:"ghlSeen,omitempty"`
	GHLReadAt time.Time `json:"ghlReadAt,omitempty"`
	PlannedAt time.Time `json:"plannedAt"`
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
	// Replan says the HighLevel contact changed since the plan read it; nothing was written
	// and the pass must plan again from fresh reads.
	Replan bool `json:"replan,omitempty"`
}

// ObjectPlan is the plan of a child workflow (tags, notes or tasks) for one person.
type ObjectPlan struct {
	domain.Ref
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
	domain.Ref
	WorkflowID string           `json:"workflowId"`
	RunID      string           `json:"runId"`
	Kind       string           `json:"kind"`
	Input      domain.PlanInput `json:"input"` // what the failed step was asked to do
	Error      string           `json:"error"`
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
	ConnectionID string       `json:"connectionId"`
	LinkIDs      []string     `json:"linkIds"`
	Event        domain.Event `json:"event"`
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

// ReconcileStepResult is what one reconcile step did, and where the run is.
type ReconcileStepResult struct {
	State domain.ReconcileState `json:"state"`
	// PhaseDone says the step finished its phase.
	PhaseDone bool `json:"phaseDone"`
}
