package e2e

import (
	"context"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/store"
)

// ReadWorld reads what every part holds now: both simulators through their admin APIs,
// links, inbox and dead letters through SQL, workflows through Temporal's API.
func (e *ProcEnv) ReadWorld(ctx context.Context, withWorkflows bool) (World, error) {
	w := World{Inbox: map[string]store.InboxState{}, Now: time.Now()}
	snap, err := e.GHL.Snapshot()
	if err != nil {
		return w, err
	}
	for _, c := range snap.Contacts {
		if c.LocationID == e.LocationID {
			w.GHLContacts = append(w.GHLContacts, c)
		}
	}
	w.GHLTasks, w.GHLNotes = snap.Tasks, snap.Notes
	if w.RZContacts, err = e.RZ.Contacts(e.RZToken); err != nil {
		return w, err
	}
	if w.RZVisits, err = e.RZ.Visits(e.RZToken); err != nil {
		return w, err
	}
	if w.Webhooks, err = e.GHL.WebhookLog(); err != nil {
		return w, err
	}
	after := ""
	for {
		page, err := e.Store.ListLinks(ctx, e.Conn.ID, after, 500)
		if err != nil {
			return w, fmt.Errorf("list links: %w", err)
		}
		if len(page) == 0 {
			break
		}
		w.Links = append(w.Links, page...)
		after = page[len(page)-1].ID
	}
	rows, err := e.Store.Pool().Query(ctx, `SELECT dedupe_key, state FROM inbox`)
	if err != nil {
		return w, fmt.Errorf("read inbox: %w", err)
	}
	for rows.Next() {
		var key, state string
		if err := rows.Scan(&key, &state); err != nil {
			rows.Close()
			return w, err
		}
		w.Inbox[key] = store.InboxState(state)
	}
	rows.Close()
	if w.OpenDeadLetters, err = e.Store.ListDeadLetters(ctx, e.Conn.ID, store.DeadOpen, 1000); err != nil {
		return w, fmt.Errorf("dead letters: %w", err)
	}
	if withWorkflows {
		if w.Workflows, err = e.Workflows(ctx, true); err != nil {
			return w, err
		}
	}
	return w, nil
}

// Workflows lists every execution of the namespace; with busy it asks each running entity
// workflow whether it has work outstanding.
func (e *ProcEnv) Workflows(ctx context.Context, busy bool) ([]WorkflowInfo, error) {
	return e.listWorkflows(ctx, "", busy)
}

// listWorkflows pages through the executions a visibility query matches, in pages small
// enough for the dev server's SQLite visibility to answer within the RPC timeout.
func (e *ProcEnv) listWorkflows(ctx context.Context, query string, busy bool) ([]WorkflowInfo, error) {
	var out []WorkflowInfo
	var token []byte
	for {
		resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: e.Namespace, PageSize: 200, Query: query, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list workflows: %w", err)
		}
		for _, ex := range resp.Executions {
			wf := WorkflowInfo{ID: ex.Execution.WorkflowId, Type: ex.Type.Name, Status: statusName(ex.Status), LongRunning: ex.Type.Name == domain.ContactSyncName}
			if busy && wf.Status == "Running" && wf.LongRunning {
				v, err := e.Client.QueryWorkflow(ctx, wf.ID, "", domain.QueryState)
				var st domain.ContactState
				if err == nil {
					err = v.Get(&st)
				}
				wf.Busy = err != nil || len(st.Pending) > 0
			}
			out = append(out, wf)
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			return out, nil
		}
	}
}

func statusName(s enumspb.WorkflowExecutionStatus) string {
	// WORKFLOW_EXECUTION_STATUS_RUNNING → Running
	n := strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_")
	switch n {
	case "TIMED_OUT":
		return "TimedOut"
	case "CONTINUED_AS_NEW":
		return "ContinuedAsNew"
	}
	if n == "" {
		return "Unknown"
	}
	return n[:1] + strings.ToLower(n[1:])
}

// InFlight counts activities started and not finished, per workflow: after a worker is
// SIGKILLed these are the activities it abandoned mid-call.
func (e *ProcEnv) InFlight(ctx context.Context) (map[string]int, error) {
	resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: e.Namespace, PageSize: 1000, Query: "ExecutionStatus = 'Running'"})
	if err != nil {
		return nil, fmt.Errorf("list running workflows: %w", err)
	}
	out := map[string]int{}
	for _, ex := range resp.Executions {
		d, err := e.Client.DescribeWorkflowExecution(ctx, ex.Execution.WorkflowId, ex.Execution.RunId)
		if err != nil {
			continue
		}
		for _, pa := range d.PendingActivities {
			if pa.State == enumspb.PENDING_ACTIVITY_STATE_STARTED || abandoned(pa) {
				out[ex.Execution.WorkflowId]++
			}
		}
	}
	return out, nil
}

// abandoned reports an activity whose last attempt timed out for want of heartbeats: a
// worker that died while running it. Describing every running workflow after a kill can
// take longer than the heartbeat timeout on a busy machine, by which time such an activity
// is no longer STARTED but waiting for its next attempt.
func abandoned(pa *workflowpb.PendingActivityInfo) bool {
	tf := pa.GetLastFailure().GetTimeoutFailureInfo()
	return tf != nil && tf.GetTimeoutType() == enumspb.TIMEOUT_TYPE_HEARTBEAT
}

// LinkOfWorkflow returns the link id of a contact workflow or one of its children.
func LinkOfWorkflow(id string) string {
	parts := strings.Split(id, "/")
	if len(parts) >= 3 && parts[0] == "contact" {
		return parts[2]
	}
	return ""
}

// WaitIdle waits until HighLevel has nothing left to deliver, the inbox has nothing
// pending, and no workflow has work outstanding (entity workflows may stay running idle).
func (e *ProcEnv) WaitIdle(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	calm := 0
	for time.Now().Before(deadline) {
		ok, why := e.idleOnce(ctx)
		if ok {
			calm++
			if calm >= 2 { // idle twice, a second apart: nothing was between steps
				return nil
			}
		} else {
			calm, last = 0, why
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("not idle after %s: %s", timeout, last)
}

func (e *ProcEnv) idleOnce(ctx context.Context) (bool, string) {
	if err := e.GHL.WaitDelivered(20 * time.Second); err != nil {
		return false, err.Error()
	}
	counts, err := e.Store.InboxCounts(ctx)
	if err != nil || counts[store.InboxPending] > 0 {
		return false, fmt.Sprintf("inbox %v %v", counts, err)
	}
	wfs, err := e.listWorkflows(ctx, "ExecutionStatus = 'Running'", true)
	if err != nil {
		return false, err.Error()
	}
	for _, wf := range wfs {
		if wf.Status == "Running" && (!wf.LongRunning || wf.Busy) {
			return false, fmt.Sprintf("%s %s running (busy %v)", wf.Type, wf.ID, wf.Busy)
		}
	}
	return true, ""
}
