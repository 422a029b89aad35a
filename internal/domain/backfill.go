package domain

import "time"

// Backfill defaults.
const (
	DefaultBackfillPageSize = 100
	DefaultBackfillWindow   = 200 // people whose first pass may be in flight at once
	DefaultBackfillBatch    = 50  // people signalled per StartSyncs activity
)

// Backfill phases, in order.
const (
	PhaseGHL      = "ghl"      // page all HighLevel contacts: link each, index its email and phone
	PhaseRZ       = "rz"       // page all Referrizer contacts: match each to HighLevel, link it
	PhaseSync     = "sync"     // page the links: give every person a first pass, windowed
	PhaseDraining = "draining" // wait for the last people's first pass
	PhaseDone     = "done"
)

// BackfillInput starts (or continues) a connection's backfill.
type BackfillInput struct {
	ConnectionID string `json:"connectionId"`
	PageSize     int    `json:"pageSize,omitempty"`
	Window       int    `json:"window,omitempty"`
	BatchSize    int    `json:"batchSize,omitempty"`
	// State is carried across continue-as-new (one run per page).
	State *BackfillState `json:"state,omitempty"`
}

// BackfillState is the backfill's resumable position.
type BackfillState struct {
	Progress BackfillProgress `json:"progress"`
	Cursor   string           `json:"cursor,omitempty"`
}

// BackfillProgress is what the `progress` query returns.
type BackfillProgress struct {
	Phase     string    `json:"phase"`
	Pages     int       `json:"pages"`
	Seen      int       `json:"seen"`      // contacts read from either side
	Linked    int       `json:"linked"`    // matched across sides
	New       int       `json:"new"`       // only on one side when read
	Ambiguous int       `json:"ambiguous"` // several candidates; left for an operator
	Started   int       `json:"started"`   // first passes requested
	Synced    int       `json:"synced"`    // first passes finished
	Created   int       `json:"created"`   // people created on the other side
	Failed    int       `json:"failed"`    // first passes that failed (see dead letters)
	StartedAt time.Time `json:"startedAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// InFlight is how many requested first passes have not reported back.
func (p BackfillProgress) InFlight() int { return p.Started - p.Synced - p.Failed }
