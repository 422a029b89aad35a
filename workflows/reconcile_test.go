package workflows_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/workflows"
)

// The stepped reconcile runs its phases in order, one activity a step, answers the progress
// query, and continues as new with its position after StepsPerRun steps.
func TestReconcileStepsAndContinueAsNew(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	r := &activities.Reconciler{}
	env.RegisterActivity(r)
	var phases []string
	env.OnActivity(r.ReconcileStep, mock.Anything, mock.Anything).Return(func(_ context.Context, in domain.ReconcileInput) (activities.ReconcileStepResult, error) {
		st := *in.State
		phases = append(phases, st.Phase)
		st.Result.ChangesRead++
		next := map[string]string{domain.ReconcileChanges: domain.ReconcileOpenTasks, domain.ReconcileOpenTasks: domain.ReconcileSweep,
			domain.ReconcileSweep: domain.ReconcileDeletes, domain.ReconcileDeletes: domain.ReconcileDone}
		st.Phase = next[st.Phase]
		return activities.ReconcileStepResult{State: st, PhaseDone: true}, nil
	})
	env.ExecuteWorkflow(workflows.Reconcile, domain.ReconcileInput{ConnectionID: "c1", StepsPerRun: 3})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("after 3 steps: err = %v, want continue-as-new", err)
	}
	want := []string{domain.ReconcileChanges, domain.ReconcileOpenTasks, domain.ReconcileSweep}
	if len(phases) != len(want) {
		t.Fatalf("phases %v, want %v", phases, want)
	}
	for i := range want {
		if phases[i] != want[i] {
			t.Errorf("phases %v, want %v", phases, want)
		}
	}
	var seen domain.ReconcileState
	if v, err := env.QueryWorkflow(domain.QueryProgress); err != nil {
		t.Errorf("progress query: %v", err)
	} else if err := v.Get(&seen); err != nil || seen.Phase != domain.ReconcileDeletes || seen.Runs != 1 || seen.Steps != 3 {
		t.Errorf("progress = %+v, %v", seen, err)
	}

	// The next run carries the position: it does the last phase only.
	var in domain.ReconcileInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
		t.Fatal(err)
	}
	if in.State == nil || in.State.Phase != domain.ReconcileDeletes || in.State.Steps != 3 || in.State.Result.ChangesRead != 3 {
		t.Fatalf("continued with %+v", in.State)
	}
	env2 := s.NewTestWorkflowEnvironment()
	env2.RegisterActivity(r)
	phases = nil
	env2.OnActivity(r.ReconcileStep, mock.Anything, mock.Anything).Return(func(_ context.Context, in domain.ReconcileInput) (activities.ReconcileStepResult, error) {
		st := *in.State
		phases = append(phases, st.Phase)
		st.Phase = domain.ReconcileDone
		return activities.ReconcileStepResult{State: st, PhaseDone: true}, nil
	})
	env2.ExecuteWorkflow(workflows.Reconcile, in)
	var res domain.ReconcileResult
	if err := env2.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if len(phases) != 1 || phases[0] != domain.ReconcileDeletes || res.Steps != 4 || res.ChangesRead != 3 {
		t.Errorf("second run: phases %v, result %+v", phases, res)
	}
}
