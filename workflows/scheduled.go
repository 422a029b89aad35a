package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/domain"
)

// The scheduled workflows' activities retry transient failures for a while rather than a
// number of times: a reconcile step or a poll page makes many calls, and with HighLevel
// answering 429s and 5xx five attempts in a row can all fail (the fault suite saw a
// reconcile fail that way), leaving a failed workflow for a fault that cured itself.
// Errors of the non-retryable types (configuration, auth) still fail at once.
const scheduledRetryWindow = 2 * time.Hour

func scheduledRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval: 5 * time.Second, MaximumInterval: time.Minute,
		NonRetryableErrorTypes: activities.NonRetryableErrorTypes,
	}
}

// ReferrizerPoll pages a connection's Referrizer contacts, compares each with the ledger,
// and signals only people that changed, are new, or went missing. A Temporal Schedule per
// connection starts it (overlap: skip).
func ReferrizerPoll(ctx workflow.Context, in domain.PollInput) (activities.PollResult, error) {
	if in.PageSize <= 0 {
		in.PageSize = 100
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Minute,
		ScheduleToCloseTimeout: scheduledRetryWindow,
		HeartbeatTimeout:       HeartbeatTimeout, // a dead worker's poll resumes from its last page
		RetryPolicy:            scheduledRetry(),
	})
	var p *activities.Poller
	var out activities.PollResult
	err := workflow.ExecuteActivity(actx, p.PollReferrizer, in).Get(ctx, &out)
	return out, err
}

// Reconcile repairs drift HighLevel's webhooks leave (see the README's "How missed events
// are repaired"): it reads the contacts changed since the connection's high-water mark,
// re-reads people with open tasks and, in rotation, everyone's notes and tasks, and lists
// every contact to find deletes when that is due; it signals only people whose state
// differs from the ledger. Each step is an activity that stores its position, so a run
// resumes where a failed one stopped; a run continues as new after StepsPerRun steps.
// Executions started before this change keep running the single-activity reconcile.
func Reconcile(ctx workflow.Context, in domain.ReconcileInput) (domain.ReconcileResult, error) {
	if in.BudgetShare <= 0 || in.BudgetShare > 1 {
		in.BudgetShare = domain.DefaultReconcileShare
	}
	if in.MaxPeople <= 0 {
		in.MaxPeople = domain.DefaultReconcileMax
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    time.Hour,
		ScheduleToCloseTimeout: scheduledRetryWindow,
		HeartbeatTimeout:       HeartbeatTimeout,
		RetryPolicy:            scheduledRetry(),
	})
	var r *activities.Reconciler
	if workflow.GetVersion(ctx, changeReconcileSteps, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		var out domain.ReconcileResult
		err := workflow.ExecuteActivity(actx, r.ReconcileConnection, in).Get(ctx, &out)
		return out, err
	}
	if in.StepsPerRun <= 0 {
		in.StepsPerRun = domain.DefaultReconcileSteps
	}
	st := in.State
	if st == nil {
		st = &domain.ReconcileState{Phase: domain.ReconcileChanges, StartedAt: workflow.Now(ctx)}
	}
	st.Runs++
	if err := workflow.SetQueryHandler(ctx, domain.QueryProgress, func() (domain.ReconcileState, error) { return *st, nil }); err != nil {
		return st.Result, err
	}
	for steps := 0; st.Phase != domain.ReconcileDone; steps++ {
		if steps >= in.StepsPerRun {
			next := in
			next.State = st
			return st.Result, workflow.NewContinueAsNewError(ctx, Reconcile, next)
		}
		workflow.SetCurrentDetails(ctx, reconcileDetails(*st))
		step := in
		step.State = st
		var res activities.ReconcileStepResult
		if err := workflow.ExecuteActivity(actx, r.ReconcileStep, step).Get(ctx, &res); err != nil {
			return st.Result, fmt.Errorf("reconcile %s, step %d: %w", st.Phase, st.Steps+1, err)
		}
		res.State.Steps++
		res.State.Result.Steps = res.State.Steps
		*st = res.State
	}
	workflow.SetCurrentDetails(ctx, reconcileDetails(*st))
	return st.Result, nil
}

func reconcileDetails(st domain.ReconcileState) string {
	r := st.Result
	return fmt.Sprintf("**%s** · steps %d · runs %d · changes read %d, signalled %d (new %d) · open-task people %d (changed %d) · swept %d (changed %d) · listed %d · deleted %d · calls %d (list %d)",
		st.Phase, st.Steps, st.Runs, r.ChangesRead, r.ChangesSignalled, r.New, r.TasksChecked, r.TasksChanged, r.Swept, r.SweepChanged, r.ContactsListed, r.Deleted, r.Calls, r.ListCalls)
}
