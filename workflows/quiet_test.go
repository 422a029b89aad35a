package workflows_test

import (
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/workflows"
)

// A person's workflow with nothing to do completes once its quiet time has passed since its
// last event's pass, not before: an event during the quiet wait starts the wait again.
func TestContactSyncCompletesWhenQuiet(t *testing.T) {
	env, r := newEnv(t)
	const quiet = time.Hour
	start := env.Now()
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("wh-1", domain.KindContact)) }, time.Millisecond)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("wh-2", domain.KindContact)) }, 40*time.Minute)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref, Debounce: time.Second, QuietAfter: quiet})

	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, error %v; want a completion", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	if len(r.plans) != 2 {
		t.Fatalf("passes = %d, want 2 (one per event)", len(r.plans))
	}
	// The second pass ran at 40 min + the debounce; the workflow is quiet an hour after it.
	lastPass := r.planTimes[1]
	if ended := env.Now(); ended.Before(lastPass.Add(quiet)) || ended.After(lastPass.Add(quiet+time.Minute)) {
		t.Errorf("completed %s after the start, last pass at %s; want one quiet hour after the last pass", ended.Sub(start), lastPass.Sub(start))
	}
}

// A negative quiet time keeps the workflow open (as before quiet completion existed).
func TestContactSyncNeverQuietWhenDisabled(t *testing.T) {
	env, r := newEnv(t)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("wh-1", domain.KindContact)) }, time.Millisecond)
	env.RegisterDelayedCallback(env.CancelWorkflow, 72*time.Hour)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref, QuietAfter: -1})
	if len(r.plans) != 1 {
		t.Fatalf("passes = %d, want 1", len(r.plans))
	}
	if err := env.GetWorkflowError(); err == nil {
		t.Fatalf("workflow ended on its own after 72 h, want it open until cancelled")
	}
}

// An event delivered a moment before the quiet timer fires is synced, not lost to the
// completion. (At or after the deadline the SDK's test environment drops the signal: it
// has no signal-with-start to start the next run. TestQuietCompletionLosesNoEvent races
// that on a real server.)
func TestContactSyncEventJustBeforeTheQuietDeadline(t *testing.T) {
	env, r := newEnv(t)
	const quiet = time.Hour
	// The first pass plans at 1 ms + the 1 s debounce (the mocks take no time); its quiet
	// timer fires an hour later.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("wh-1", domain.KindContact)) }, time.Millisecond)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("wh-2", domain.KindContact)) }, time.Second+quiet)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref, Debounce: time.Second, QuietAfter: quiet})
	if len(r.plans) != 2 || !env.IsWorkflowCompleted() {
		t.Errorf("passes = %d, completed %v; want 2 (the event synced) and then a quiet completion", len(r.plans), env.IsWorkflowCompleted())
	}
}
