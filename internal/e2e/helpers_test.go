package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/workflows"
)

var jsonUnmarshal = json.Unmarshal

// waitIdle waits until every webhook is delivered and relayed and no workflow of the test
// has work in flight: no pending events, no running child, poll or backfill.
func waitIdle(t *testing.T, e *e2e.Env) {
	t.Helper()
	ctx := context.Background()
	e.Eventually(90*time.Second, "the sync to go idle", func() (bool, string) {
		if err := e.GHL.WaitDelivered(ctx); err != nil {
			return false, err.Error()
		}
		counts, err := e.Store.InboxCounts(ctx)
		if err != nil || counts["pending"] > 0 {
			return false, fmt.Sprintf("inbox %v %v", counts, err)
		}
		resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: e.Namespace, Query: "ExecutionStatus = 'Running'",
		})
		if err != nil {
			return false, err.Error()
		}
		for _, ex := range resp.Executions {
			if ex.Type.Name != domain.ContactSyncName {
				return false, "running " + ex.Execution.WorkflowId
			}
			v, err := e.Client.QueryWorkflow(ctx, ex.Execution.WorkflowId, "", domain.QueryState)
			if err != nil {
				return false, err.Error()
			}
			var st domain.ContactState
			if err := v.Get(&st); err != nil {
				return false, err.Error()
			}
			if len(st.Pending) > 0 || st.Passes == 0 {
				return false, fmt.Sprintf("%s has %d pending, %d passes", ex.Execution.WorkflowId, len(st.Pending), st.Passes)
			}
		}
		return true, ""
	})
	// A pass may still be between taking its batch and finishing; give it a moment and
	// check again that nothing started meanwhile.
	time.Sleep(1500 * time.Millisecond)
}

// runPoll runs one Referrizer poll to completion and returns what it did.
func runPoll(t *testing.T, e *e2e.Env) activities.PollResult {
	t.Helper()
	res, err := pollOnce(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// pollOnce is runPoll for goroutines other than the test's.
func pollOnce(ctx context.Context, e *e2e.Env) (activities.PollResult, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var res activities.PollResult
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "test-poll-" + fmt.Sprint(time.Now().UnixNano()), TaskQueue: e.App.Config.TaskQueue,
	}, workflows.ReferrizerPoll, domain.PollInput{ConnectionID: e.Conn.ID, PageSize: 100})
	if err != nil {
		return res, err
	}
	return res, run.Get(ctx, &res)
}

var _ = enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING

// runReconcile runs one reconcile to completion and returns what it did.
func runReconcile(t *testing.T, e *e2e.Env) domain.ReconcileResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "test-reconcile-" + fmt.Sprint(time.Now().UnixNano()), TaskQueue: e.App.Config.TaskQueue,
	}, workflows.Reconcile, domain.ReconcileInput{ConnectionID: e.Conn.ID, BudgetShare: 1})
	if err != nil {
		t.Fatal(err)
	}
	var res domain.ReconcileResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// lastPlan describes the last pass of the person with this HighLevel contact, for failure
// messages.
func lastPlan(t *testing.T, e *e2e.Env, ghlID string) string {
	t.Helper()
	ctx := context.Background()
	l, err := e.Store.LinkBy(ctx, e.Conn.ID, store.SideGHL, ghlID)
	if err != nil {
		return "no link: " + err.Error()
	}
	v, err := e.Client.QueryWorkflow(ctx, domain.ContactWorkflowID(e.Conn.ID, l.ID), "", domain.QueryState)
	if err != nil {
		return "query: " + err.Error()
	}
	var st domain.ContactState
	if err := v.Get(&st); err != nil {
		return "decode: " + err.Error()
	}
	return fmt.Sprintf("passes %d, pending %d, last plan %q, last error %q", st.Passes, len(st.Pending), st.LastPlan, st.LastError)
}
