package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/domain"
)

// ObjectSyncInput starts a child for one object kind of one person.
type ObjectSyncInput struct {
	domain.Ref
	Events []domain.Event `json:"events,omitempty"`
}

// ObjectSyncResult is what a child did.
type ObjectSyncResult struct {
	Summary string `json:"summary"`
	Writes  int    `json:"writes"`
}

// TagSync merges HighLevel tags and Referrizer labels as sets against the last synced set.
func TagSync(ctx workflow.Context, in ObjectSyncInput) (ObjectSyncResult, error) {
	var o *activities.Objects
	return objectSync(ctx, in, o.PlanTags, o.ApplyTags)
}

// NoteSync renders the person's HighLevel notes into the Referrizer notes projection.
func NoteSync(ctx workflow.Context, in ObjectSyncInput) (ObjectSyncResult, error) {
	var o *activities.Objects
	return objectSync(ctx, in, o.PlanNotes, o.ApplyNotes)
}

// TaskSync renders the person's HighLevel tasks into the Referrizer tasks projection and
// status labels, and runs the rules that create or complete HighLevel tasks.
func TaskSync(ctx workflow.Context, in ObjectSyncInput) (ObjectSyncResult, error) {
	var o *activities.Objects
	return objectSync(ctx, in, o.PlanTasks, o.ApplyTasks)
}

// objectSync is every child's shape: plan (the result is the plan, visible in the UI), then
// apply when there is something to write or record.
func objectSync(ctx workflow.Context, in ObjectSyncInput, plan, apply any) (ObjectSyncResult, error) {
	actx := activityOptions(ctx)
	var p activities.ObjectPlan
	if err := workflow.ExecuteActivity(actx, plan, domain.PlanInput{Ref: in.Ref, Events: in.Events}).Get(ctx, &p); err != nil {
		return ObjectSyncResult{}, err
	}
	if !p.Writes && !p.NeedsBase {
		return ObjectSyncResult{Summary: p.Summary}, nil
	}
	var r activities.ApplyResult
	if err := workflow.ExecuteActivity(actx, apply, p).Get(ctx, &r); err != nil {
		return ObjectSyncResult{}, err
	}
	return ObjectSyncResult{Summary: p.Summary, Writes: r.GHLWrites + r.RZWrites}, nil
}
