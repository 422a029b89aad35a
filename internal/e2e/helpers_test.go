package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/codec"
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
			if ex.Type.Name != workflows.ContactSyncName {
				return false, "running " + ex.Execution.WorkflowId
			}
			v, err := e.Client.QueryWorkflow(ctx, ex.Execution.WorkflowId, "", workflows.QueryState)
			if err != nil {
				return false, err.Error()
			}
			var st workflows.ContactState
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
	}, workflows.ReferrizerPoll, activities.PollInput{ConnectionID: e.Conn.ID, PageSize: 100})
	if err != nil {
		return res, err
	}
	return res, run.Get(ctx, &res)
}

var _ = enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING

// runReconcile runs one reconcile to completion and returns what it did.
func runReconcile(t *testing.T, e *e2e.Env) activities.ReconcileResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "test-reconcile-" + fmt.Sprint(time.Now().UnixNano()), TaskQueue: e.App.Config.TaskQueue,
	}, workflows.Reconcile, activities.ReconcileInput{ConnectionID: e.Conn.ID, BudgetShare: 1})
	if err != nil {
		t.Fatal(err)
	}
	var res activities.ReconcileResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// diagnose logs every running workflow that still owes a backfill an answer or has work in
// flight: its state, pending activities with their last failure, and pending children.
func diagnose(t *testing.T, e *e2e.Env) {
	t.Helper()
	ctx := context.Background()
	resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: e.Namespace, Query: "ExecutionStatus = 'Running'", PageSize: 1000})
	if err != nil {
		t.Logf("diagnose: %v", err)
		return
	}
	for _, ex := range resp.Executions {
		id := ex.Execution.WorkflowId
		d, err := e.Client.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Logf("diagnose %s: %v", id, err)
			continue
		}
		if ex.Type.Name == workflows.ContactSyncName {
			v, err := e.Client.QueryWorkflow(ctx, id, "", workflows.QueryState)
			var st workflows.ContactState
			if err == nil {
				_ = v.Get(&st)
			}
			if len(st.Notify) == 0 && len(st.Pending) == 0 && len(d.PendingActivities) == 0 && len(d.PendingChildren) == 0 {
				continue
			}
			t.Logf("diagnose %s: passes %d pending %d notify %d plan %q error %q (query err %v)", id, st.Passes, len(st.Pending), len(st.Notify), st.LastPlan, st.LastError, err)
		} else {
			t.Logf("diagnose %s (%s): history %d", id, ex.Type.Name, ex.HistoryLength)
		}
		for _, a := range d.PendingActivities {
			t.Logf("  activity %s attempt %d state %v last failure %v", a.ActivityType.GetName(), a.Attempt, a.State, a.LastFailure.GetMessage())
		}
		for _, c := range d.PendingChildren {
			t.Logf("  child %s %s", c.WorkflowTypeName, c.WorkflowId)
		}
	}
}

// diagnoseLostUpdate logs what happened to one person whose edit did not arrive: the
// webhooks stored for their HighLevel contact, and their ContactSync runs' signals and plans.
func diagnoseLostUpdate(t *testing.T, e *e2e.Env, l store.Link) {
	t.Helper()
	ctx := context.Background()
	if c, err := pgx.Connect(ctx, e.DSN); err == nil {
		rows, err := c.Query(ctx, `SELECT id, event_type, state, attempts, received_at, convert_from(body, 'UTF8') FROM inbox WHERE position($1 in convert_from(body, 'UTF8')) > 0 ORDER BY id`, l.GHLContactID)
		if err == nil {
			for rows.Next() {
				var id int64
				var typ, state, body string
				var attempts int
				var at time.Time
				if rows.Scan(&id, &typ, &state, &attempts, &at, &body) == nil {
					var b struct{ LastName, WebhookID, Timestamp string }
					_ = json.Unmarshal([]byte(body), &b)
					t.Logf("  inbox %d %s %s attempts %d at %s: lastName %q webhook %s ts %s", id, typ, state, attempts, at.Format("15:04:05.000"), b.LastName, b.WebhookID, b.Timestamp)
				}
			}
			rows.Close()
		}
		_ = c.Close(ctx)
	}
	dc := codec.DataConverter(e2e.TestKeyring())
	id := workflows.ContactWorkflowID(e.Conn.ID, l.ID)
	resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: e.Namespace, Query: fmt.Sprintf("WorkflowId = '%s'", id), PageSize: 100})
	if err != nil {
		t.Logf("  list runs: %v", err)
		return
	}
	for _, ex := range resp.Executions {
		t.Logf("  run %s %s", ex.Execution.RunId, ex.Status)
		iter := e.Client.GetWorkflowHistory(ctx, id, ex.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				break
			}
			at := ev.GetEventTime().AsTime().Format("15:04:05.000")
			if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil {
				var in activities.Event
				_ = dc.FromPayloads(a.GetInput(), &in)
				t.Logf("    %s signal %s %s/%s id %s", at, a.GetSignalName(), in.Source, in.Kind, in.ID)
			}
			if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
				var p activities.ContactPlan
				if dc.FromPayloads(a.GetResult(), &p) == nil && p.Summary != "" {
					t.Logf("    %s completed: %s", at, p.Summary)
				}
			}
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				t.Logf("    %s scheduled %s", at, a.GetActivityType().GetName())
			}
		}
	}
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
	v, err := e.Client.QueryWorkflow(ctx, workflows.ContactWorkflowID(e.Conn.ID, l.ID), "", workflows.QueryState)
	if err != nil {
		return "query: " + err.Error()
	}
	var st workflows.ContactState
	if err := v.Get(&st); err != nil {
		return "decode: " + err.Error()
	}
	return fmt.Sprintf("passes %d, pending %d, last plan %q, last error %q", st.Passes, len(st.Pending), st.LastPlan, st.LastError)
}
