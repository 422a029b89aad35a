package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/hlrz/hlrz/internal/domain"
)

// Object kinds SyncObjects handles, in the order it runs them.
const (
	ObjectTags  = "tags"
	ObjectNotes = "notes"
	ObjectTasks = "tasks"
)

// SyncObjectsInput asks for the tags, notes and tasks of one person, in that order.
type SyncObjectsInput struct {
	domain.Ref
	Events  []domain.Event `json:"events,omitempty"`
	Objects []string       `json:"objects"` // a subset of tags, notes, tasks
}

// ObjectOutcome is how one object kind went.
type ObjectOutcome struct {
	Object  string `json:"object"`
	Summary string `json:"summary,omitempty"`
	Writes  int    `json:"writes,omitempty"`
	// Error is set when the object failed for good (a non-retryable error); the workflow
	// dead-letters it. Retryable errors fail the whole activity, which Temporal retries.
	Error string `json:"error,omitempty"`
}

// SyncObjectsResult lists one outcome per requested object, in order.
type SyncObjectsResult struct {
	Objects []ObjectOutcome `json:"objects"`
}

// SyncObjects plans and applies a person's tags, notes and tasks one after another in one
// activity: the same steps the TagSync, NoteSync and TaskSync children run, without a
// child workflow (and its history) per object. One at a time, because each writes the
// same Referrizer contact, which only takes whole-record writes. The outcomes finished so
// far are heartbeat details, so a retry after a 429 or a crash resumes at the first
// unfinished object instead of reading the finished ones again.
func (o *Objects) SyncObjects(ctx context.Context, in SyncObjectsInput) (SyncObjectsResult, error) {
	var done SyncObjectsResult
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &done); err != nil {
			done = SyncObjectsResult{} // unreadable progress: start over (every step is idempotent)
		}
	}
	for _, object := range in.Objects {
		if slices.ContainsFunc(done.Objects, func(d ObjectOutcome) bool { return d.Object == object }) {
			continue
		}
		out, err := o.syncObject(ctx, object, domain.PlanInput{Ref: in.Ref, Events: in.Events})
		if err != nil {
			if !forGood(err) {
				return done, err
			}
			out.Error = fmt.Sprintf("%s: %v", object, err)
		}
		done.Objects = append(done.Objects, out)
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, done)
		}
	}
	return done, nil
}

// syncObject plans one object and applies the plan when there is something to write or
// record, as objectSync in the workflows did in a child.
func (o *Objects) syncObject(ctx context.Context, object string, in domain.PlanInput) (ObjectOutcome, error) {
	out := ObjectOutcome{Object: object}
	var plan func(context.Context, domain.PlanInput) (ObjectPlan, error)
	var apply func(context.Context, ObjectPlan) (ApplyResult, error)
	switch object {
	case ObjectTags:
		plan, apply = o.PlanTags, o.ApplyTags
	case ObjectNotes:
		plan, apply = o.PlanNotes, o.ApplyNotes
	case ObjectTasks:
		plan, apply = o.PlanTasks, o.ApplyTasks
	default:
		return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown object %q", object), ErrTypeValidation, nil)
	}
	// Errors are returned as they are: the SDK reads the type, non-retryable flag and
	// 429 retry delay from the top-level error only, so wrapping would lose them.
	p, err := plan(ctx, in)
	if err != nil {
		return out, err
	}
	out.Summary = p.Summary
	if !p.Writes && !p.NeedsBase {
		return out, nil
	}
	r, err := apply(ctx, p)
	if err != nil {
		return out, err
	}
	out.Writes = r.GHLWrites + r.RZWrites
	return out, nil
}

// forGood says retrying cannot fix err: what the workflows' retry policy would not retry.
func forGood(err error) bool {
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.NonRetryable() || slices.Contains(NonRetryableErrorTypes, ae.Type())
}
