package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hlrz/hlrz/activities"
)

// Schedule defaults.
const (
	DefaultPollInterval      = 5 * time.Minute
	DefaultReconcileInterval = 30 * time.Minute
	DefaultReconcileShare    = 0.2 // of the HighLevel rate budget
	DefaultReconcileMax      = 500 // people whose tasks one run re-reads
)

// ReferrizerPoll pages a connection's Referrizer contacts, compares each with the ledger,
// and signals only people that changed, are new, or went missing. A Temporal Schedule per
// connection starts it (overlap: skip).
func ReferrizerPoll(ctx workflow.Context, in activities.PollInput) (activities.PollResult, error) {
	if in.PageSize <= 0 {
		in.PageSize = 100
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    HeartbeatTimeout, // a dead worker's poll resumes from its last page
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, MaximumInterval: time.Minute, MaximumAttempts: 5,
			NonRetryableErrorTypes: activities.NonRetryableErrorTypes,
		},
	})
	var p *activities.Poller
	var out activities.PollResult
	err := workflow.ExecuteActivity(actx, p.PollReferrizer, in).Get(ctx, &out)
	return out, err
}

// Reconcile re-reads the tasks of people with open tasks (HighLevel sends no TaskUpdate
// event) and finds HighLevel deletes that webhooks missed, within a share of the budget.
func Reconcile(ctx workflow.Context, in activities.ReconcileInput) (activities.ReconcileResult, error) {
	if in.BudgetShare <= 0 || in.BudgetShare > 1 {
		in.BudgetShare = DefaultReconcileShare
	}
	if in.MaxPeople <= 0 {
		in.MaxPeople = DefaultReconcileMax
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Hour,
		HeartbeatTimeout:    HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, MaximumInterval: time.Minute, MaximumAttempts: 5,
			NonRetryableErrorTypes: activities.NonRetryableErrorTypes,
		},
	})
	var r *activities.Reconciler
	var out activities.ReconcileResult
	err := workflow.ExecuteActivity(actx, r.ReconcileConnection, in).Get(ctx, &out)
	return out, err
}
