// Package domain holds what every part of the product must agree on and nothing else: the
// signal envelope (Event, Ref), workflow, signal, query and update names, search
// attributes, workflow-ID formats, and the inputs and progress of the workflows other
// packages start or query. It imports none of the product's packages, so the bridge,
// dispatch, schedules and the setup page use it without importing activities or workflows.
package domain

import (
	"context"
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
	// Fresh reads both sides even when the events came from a bulk read (a plan again
	// after apply found the bulk-read record outdated).
	Fresh bool `json:"fresh,omitempty"`
}

// Signaler delivers an event to a person's ContactSync (internal/dispatch implements it).
type Signaler interface {
	Signal(ctx context.Context, ref Ref, ev Event) error
}

// DeadAmbiguousMatch is the dead-letter kind of a person held by a sync pass's matching
// (the backfill's own is "Backfill.ambiguous-match").
const DeadAmbiguousMatch = "ContactSync.ambiguous-match"
