package workflows_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/workflows"
)

// A full pass syncs tags, notes and tasks in one SyncObjects activity, in that order, and
// starts no child workflow.
func TestContactSyncObjectsInOneActivity(t *testing.T) {
	env, r := newEnv(t)
	children := 0
	env.SetOnChildWorkflowStartedListener(func(*workflow.Info, workflow.Context, converter.EncodedValues) { children++ })
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("a1", domain.KindAll)) }, time.Millisecond)
	env.RegisterDelayedCallback(env.CancelWorkflow, 20*time.Second)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref})

	if children != 0 {
		t.Errorf("child workflows started: %d, want 0", children)
	}
	if len(r.objectCalls) != 1 || !slices.Equal(r.objectCalls[0], []string{"tags", "notes", "tasks"}) {
		t.Errorf("SyncObjects calls = %v, want one with [tags notes tasks]", r.objectCalls)
	}
}

// An object SyncObjects reports failed for good is dead-lettered on its own, as its child
// was; the objects that succeeded are not.
func TestContactSyncDeadLettersFailedObject(t *testing.T) {
	env, r := newEnv(t)
	r.objectErr = map[string]string{"notes": "notes: ghl: validation"}
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("a1", domain.KindAll)) }, time.Millisecond)
	var st domain.ContactState
	env.RegisterDelayedCallback(func() {
		res, err := env.QueryWorkflow(domain.QueryState)
		if err != nil {
			t.Error(err)
		} else if err := res.Get(&st); err != nil {
			t.Error(err)
		}
		env.CancelWorkflow()
	}, 20*time.Second)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref})

	if len(r.dead) != 1 || r.dead[0].Kind != "ContactSync.notes" || len(r.dead[0].Input.Events) != 1 {
		t.Fatalf("dead letters = %+v, want one ContactSync.notes", r.dead)
	}
	if st.Status != domain.StatusError {
		t.Errorf("status = %q, want error", st.Status)
	}
}

// When SyncObjects itself fails (its retries exhausted), every object it was asked for is
// dead-lettered.
func TestContactSyncDeadLettersFailedObjectsActivity(t *testing.T) {
	env, r := newEnv(t)
	r.syncObjectsErr = temporal.NewNonRetryableApplicationError("rz: unauthorized", activities.ErrTypeUnauthorized, errors.New("401"))
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("n1", domain.KindNotes)) }, time.Millisecond)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("t1", domain.KindTasks)) }, 2*time.Millisecond)
	env.RegisterDelayedCallback(env.CancelWorkflow, 20*time.Second)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref})

	var kinds []string
	for _, d := range r.dead {
		kinds = append(kinds, d.Kind)
	}
	if !slices.Equal(kinds, []string{"ContactSync.notes", "ContactSync.tasks"}) {
		t.Fatalf("dead letters = %v, want ContactSync.notes and ContactSync.tasks", kinds)
	}
}

// A batch of backfill requests starts its pass at once; any other event waits out the
// debounce.
func TestContactSyncBackfillSkipsDebounce(t *testing.T) {
	for _, tc := range []struct {
		source  string
		minWait time.Duration
		maxWait time.Duration
	}{
		{domain.SourceBackfill, 0, time.Minute},
		{domain.SourceGHL, time.Hour, 2 * time.Hour},
	} {
		t.Run(tc.source, func(t *testing.T) {
			env, r := newEnv(t)
			start := env.Now()
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(domain.SignalEvent, domain.Event{Source: tc.source, ID: "e1", Kind: domain.KindContact})
			}, time.Millisecond)
			env.RegisterDelayedCallback(env.CancelWorkflow, 3*time.Hour)
			env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref, Debounce: time.Hour})
			if len(r.planTimes) != 1 {
				t.Fatalf("passes = %d, want 1", len(r.planTimes))
			}
			if wait := r.planTimes[0].Sub(start); wait < tc.minWait || wait > tc.maxWait {
				t.Errorf("pass started %v after the event, want between %v and %v", wait, tc.minWait, tc.maxWait)
			}
		})
	}
}
