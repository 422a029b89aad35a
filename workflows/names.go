// Package workflows holds the deterministic workflow code: ContactSync (one entity
// workflow per linked person), its children TaskSync, NoteSync and TagSync, and the
// per-connection Backfill, ReferrizerPoll and Reconcile. Their names, signals, queries,
// search attributes, workflow-ID helpers and inputs are in internal/domain, so the bridge,
// the CLI and the worker agree on them without importing this package.
package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hlrz/hlrz/internal/domain"
)

// Register registers every workflow under its constant name.
func Register(r worker.WorkflowRegistry) {
	for name, fn := range map[string]any{
		domain.ContactSyncName: ContactSync, domain.TagSyncName: TagSync, domain.NoteSyncName: NoteSync,
		domain.TaskSyncName: TaskSync, domain.BackfillName: Backfill, domain.ReferrizerPollName: ReferrizerPoll,
		domain.ReconcileName: Reconcile,
	} {
		r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
	}
}

// Change ids for workflow.GetVersion: each names a change to workflow logic that running
// executions recorded before it must still replay.
const (
	// changeChildrenOneAtATime: a pass runs its tags, notes and tasks children in turn.
	changeChildrenOneAtATime = "children-one-at-a-time"
	// changeReconcileSteps: the reconcile runs as resumable steps (drift repair) instead of
	// one activity.
	changeReconcileSteps = "reconcile-steps"
	// changeObjectsActivity: a pass syncs tags, notes and tasks in one SyncObjects activity
	// instead of a child workflow each (a third of the history events of a first pass).
	changeObjectsActivity = "objects-activity"
	// changeBackfillNoDebounce: a batch of backfill requests only starts its pass without
	// the debounce timer; the backfill paces its people itself.
	changeBackfillNoDebounce = "backfill-no-debounce"
	// changeQuietCompletes: a ContactSync with nothing to do for its quiet time completes (the
	// next event starts a new run by signal-with-start) instead of staying open forever.
	changeQuietCompletes = "quiet-completes"
)
