package domain

import "time"

// ContactSyncInput starts (or continues) a person's entity workflow.
type ContactSyncInput struct {
	Ref
	Debounce   time.Duration `json:"debounce,omitempty"`
	MaxHistory int           `json:"maxHistory,omitempty"`
	// QuietAfter is how long the workflow waits with nothing to do before it completes (the
	// next event starts a new run); 0 means the workflow default, negative never.
	QuietAfter time.Duration `json:"quietAfter,omitempty"`
	// State is carried across continue-as-new; nil on the first run.
	State *ContactState `json:"state,omitempty"`
}

// ContactState is what ContactSync knows about its person; the `state` query returns it.
type ContactState struct {
	Ref
	GHLID     string              `json:"ghlId,omitempty"`
	RZID      string              `json:"rzId,omitempty"`
	Status    string              `json:"status,omitempty"`
	Passes    int                 `json:"passes"`
	ChildSeq  int                 `json:"childSeq"`
	LastPass  time.Time           `json:"lastPass,omitempty"`
	LastPlan  string              `json:"lastPlan,omitempty"`
	LastError string              `json:"lastError,omitempty"`
	Pending   []Event             `json:"pending,omitempty"`
	Seen      []string            `json:"seen,omitempty"`
	Notify    []PersonDoneRequest `json:"notify,omitempty"`
}

// PersonDoneRequest remembers who wants to hear when this person's next pass ends.
type PersonDoneRequest struct {
	WorkflowID string `json:"workflowId"`
}

// PersonDone tells a backfill how one person's pass went.
type PersonDone struct {
	LinkID  string `json:"linkId"`
	Created bool   `json:"created"`
	Failed  bool   `json:"failed"`
	// Count is how many of the backfill's requests this pass answers: several requests
	// for one person coalesce into one pass.
	Count int `json:"count"`
}
