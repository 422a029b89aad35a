package workflows_test

import (
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/workflows"
)

// A person's workflow completes after its quiet time without events, with every event it
// was sent passed: one that arrives exactly as the quiet timer fires (or just before) is
// taken into a pass, not dropped by the completion.
func TestContactSyncCompletesWhenQuietWithoutLosingARacingEvent(t *testing.T) {
	const debounce, quiet = time.Second, 10 * time.Second
	// The first event arrives at 1 ms, its pass ends after the debounce (activities take no
	// time here), and the quiet timer fires one quiet time after that.
	fires := time.Millisecond + debounce + quiet
	for _, at := range []time.Duration{fires - time.Millisecond, fires} {
		t.Run(at.String(), func(t *testing.T) {
			env, r := newEnv(t)
			env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("e1", domain.KindContact)) }, time.Millisecond)
			env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("e2", domain.KindContact)) }, at)
			env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref, Debounce: debounce, Quiet: quiet})

			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete after its quiet time")
			}
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("workflow ended with %v, want completion", err)
			}
			if len(r.plans) != 2 || ids(r.plans[0]) != "e1" || ids(r.plans[1]) != "e2" {
				t.Fatalf("passes = %v, want e1 then e2 (the racing event passed before completing)", r.plans)
			}
		})
	}
}

// Without events the workflow stays open for its quiet time, not less.
func TestContactSyncStaysOpenUntilQuiet(t *testing.T) {
	env, r := newEnv(t)
	start := env.Now()
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("e1", domain.KindContact)) }, time.Millisecond)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref, Debounce: time.Second})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	if open := env.Now().Sub(start); open < workflows.DefaultQuiet || open > workflows.DefaultQuiet+time.Minute {
		t.Errorf("open for %v, want the default quiet time %v after the pass", open, workflows.DefaultQuiet)
	}
	if len(r.plans) != 1 {
		t.Errorf("passes = %d, want 1", len(r.plans))
	}
}
