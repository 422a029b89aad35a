package workflows

import (
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// consumeThenReturn receives values on a channel with consume, sends one while the consumer
// goroutine waits, and returns in the same step after draining what the goroutine has not
// taken: the moment a workflow continues as new right after a signal arrives.
func consumeThenReturn(ctx workflow.Context) (int, error) {
	ch := workflow.NewBufferedChannel(ctx, 10)
	got := 0
	consume(ctx, ch, func(int) { got++ })
	if err := workflow.Sleep(ctx, time.Second); err != nil { // the consumer now waits
		return 0, err
	}
	ch.SendAsync(1)
	for {
		var v int
		if !ch.ReceiveAsync(&v) {
			break
		}
		got++
	}
	return got, nil
}

func TestConsumeLeavesUntakenValuesForTheDrain(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(consumeThenReturn)
	env.ExecuteWorkflow(consumeThenReturn)
	var got int
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if got != 1 {
		t.Errorf("counted %d values, want 1: a value taken by the waiting consumer but not yet handled was lost", got)
	}
}
