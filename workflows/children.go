package workflows

import (
	"errors"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
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

// objectsActivityOptions are activityOptions with room for three objects' steps in one
// attempt; an attempt that runs out of time resumes at its first unfinished object.
func objectsActivityOptions(ctx workflow.Context) workflow.Context {
	ctx = activityOptions(ctx)
	opts := workflow.GetActivityOptions(ctx)
	opts.StartToCloseTimeout = 6 * time.Minute
	return workflow.WithActivityOptions(ctx, opts)
}

// syncObjects runs the tags, notes and tasks a batch needs in one SyncObjects activity and
// dead-letters each object that failed: one the activity reports failed for good, or every
// unfinished one when the activity itself failed (its retries exhausted).
func (w *contactSync) syncObjects(ctx workflow.Context, n needs, batch []domain.Event, summaries []string) ([]string, bool) {
	var objects []string
	for _, k := range []struct {
		on     bool
		object string
	}{{n.tags, activities.ObjectTags}, {n.notes, activities.ObjectNotes}, {n.tasks, activities.ObjectTasks}} {
		if k.on {
			objects = append(objects, k.object)
		}
	}
	if len(objects) == 0 {
		return summaries, false
	}
	var o *activities.Objects
	in := domain.PlanInput{Ref: w.st.Ref, Events: batch}
	var res activities.SyncObjectsResult
	err := workflow.ExecuteActivity(objectsActivityOptions(ctx), o.SyncObjects, activities.SyncObjectsInput{Ref: w.st.Ref, Events: batch, Objects: objects}).Get(ctx, &res)
	failed := false
	if err != nil {
		res = finishedBefore(err)
		for _, object := range objects {
			if !slices.ContainsFunc(res.Objects, func(d activities.ObjectOutcome) bool { return d.Object == object }) {
				res.Objects = append(res.Objects, activities.ObjectOutcome{Object: object, Error: err.Error()})
			}
		}
	}
	for _, out := range res.Objects {
		if out.Error != "" {
			failed = true
			summaries = append(summaries, out.Object+" failed")
			w.deadLetter(ctx, "ContactSync."+out.Object, in, errors.New(out.Error))
			continue
		}
		summaries = append(summaries, out.Object+": "+out.Summary)
	}
	return summaries, failed
}

// finishedBefore reads which objects a failed SyncObjects finished from its last heartbeat
// (a timeout carries it), so only the unfinished ones are dead-lettered.
func finishedBefore(err error) activities.SyncObjectsResult {
	var done activities.SyncObjectsResult
	var te *temporal.TimeoutError
	if errors.As(err, &te) && te.HasLastHeartbeatDetails() {
		if te.LastHeartbeatDetails(&done) != nil {
			return activities.SyncObjectsResult{}
		}
	}
	return done
}
