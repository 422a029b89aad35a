package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/codec"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
)

// TestQuietCompletionLosesNoEvent races events against a person's workflow completing for
// quiet, on a real Temporal server: events are signalled-with-start at gaps around the quiet
// time, so some land as the quiet timer fires, some just after the run completed. Every
// event must reach exactly one run, and every run that received an event must have planned
// a pass after its last one (a run completing over an unprocessed event loses it). A quiet
// timer must not fire once a newer one has started (it should have been cancelled); one that
// fires together with an event is fine: the run drains the event and syncs it.
func TestQuietCompletionLosesNoEvent(t *testing.T) {
	const quiet = time.Second
	e := e2e.Start(t, e2e.Options{
		Settings: store.Settings{DebounceMillis: 50},
		Tune:     func(o *app.Options) { o.Config.ContactQuietAfter = quiet },
	})
	ctx := context.Background()
	// Without webhooks while the person is made: the relay would link the new HighLevel
	// contact on its own before PairLink does.
	wh := e.GHL.Webhooks()
	off := wh
	off.URL = ""
	e.GHL.SetWebhooks(off)
	gc, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Quinn", Email: "quinn@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := e.RZ.AdminCreateContact(e.RZToken, rzsim.Contact{FirstName: "Quinn", Email: "quinn@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	link, err := e.Store.PairLink(ctx, e.Conn.ID, gc.ID, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.GHL.SetWebhooks(wh)
	ref := domain.Ref{ConnectionID: e.Conn.ID, LinkID: link.ID}
	wfID := domain.ContactWorkflowID(e.Conn.ID, link.ID)

	// Gaps between events, as multiples of the quiet time plus the pass: below, at and
	// just past the moment the run completes.
	gaps := []time.Duration{0, 900, 1000, 1050, 1100, 1150, 1200, 1250, 1300, 1400, 2000}
	sent := map[string]bool{}
	for round := range 3 {
		for i, g := range gaps {
			time.Sleep(g * time.Millisecond)
			id := fmt.Sprintf("quiet-%d-%d", round, i)
			sent[id] = true
			if err := e.App.Dispatch.Signal(ctx, ref, domain.Event{ID: id, Source: domain.SourceOperator, Kind: domain.KindContact, OccurredAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// All runs quiet and closed.
	e.Eventually(time.Minute, "the person's last run to complete", func() (bool, string) {
		d, err := e.Client.DescribeWorkflowExecution(ctx, wfID, "")
		if err != nil {
			return false, err.Error()
		}
		st := d.WorkflowExecutionInfo.Status
		return st == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, st.String()
	})

	e.RecordHistories("quiet", domain.ContactSyncName)
	got, runs := quietRuns(t, e, wfID, quiet)
	for id := range sent {
		if got[id] != 1 {
			t.Errorf("event %s reached %d runs, want 1", id, got[id])
		}
	}
	completed := 0
	for _, r := range runs {
		if r.lastSignal > r.lastPlan {
			t.Errorf("run %s received an event (history event %d) after its last plan (%d) and completed: the event is lost", r.id, r.lastSignal, r.lastPlan)
		}
		if r.leftTimers > 0 {
			t.Errorf("run %s: %d quiet timers fired after a newer one started, want 0 (cancelled when an event came first)", r.id, r.leftTimers)
		}
		if r.completed {
			completed++
		}
	}
	if completed < 2 {
		t.Errorf("%d runs completed for quiet, want several (the race was not exercised)", completed)
	}
	t.Logf("%d events over %d runs (%d completed for quiet)", len(sent), len(runs), completed)
}

// quietRun is what one run's history shows.
type quietRun struct {
	id                   string
	lastSignal, lastPlan int64
	leftTimers           int // quiet timers that fired after a newer one started
	completed            bool
}

// quietRuns reads every run of a workflow id: how many runs each event id reached, and each
// run's last signal, last PlanContact and quiet timers left running.
func quietRuns(t *testing.T, e *e2e.Env, wfID string, quiet time.Duration) (map[string]int, []quietRun) {
	t.Helper()
	ctx := context.Background()
	dc := codec.DataConverter(e2e.TestKeyring())
	resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: e.Namespace, Query: fmt.Sprintf("WorkflowId = '%s'", wfID), PageSize: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	var runs []quietRun
	for _, ex := range resp.Executions {
		r := quietRun{id: ex.Execution.RunId, completed: ex.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED}
		quietTimers := map[string]bool{} // the debounce's timers are not counted
		latest := ""
		iter := e.Client.GetWorkflowHistory(ctx, wfID, r.id, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				t.Fatal(err)
			}
			switch ev.EventType {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
				var de domain.Event
				if err := dc.FromPayloads(ev.GetWorkflowExecutionSignaledEventAttributes().Input, &de); err != nil {
					t.Fatal(err)
				}
				got[de.ID]++
				r.lastSignal = ev.EventId
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				// signal-with-start's event arrives as a signal event of the new run.
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				if ev.GetActivityTaskScheduledEventAttributes().ActivityType.GetName() == "PlanContact" {
					r.lastPlan = ev.EventId
				}
			case enumspb.EVENT_TYPE_TIMER_STARTED:
				if a := ev.GetTimerStartedEventAttributes(); a.StartToFireTimeout.AsDuration() == quiet {
					quietTimers[a.TimerId] = true
					latest = a.TimerId
				}
			case enumspb.EVENT_TYPE_TIMER_FIRED:
				// A quiet timer firing after a newer one started was left running.
				if id := ev.GetTimerFiredEventAttributes().TimerId; quietTimers[id] && id != latest {
					r.leftTimers++
				}
			}
		}
		runs = append(runs, r)
	}
	return got, runs
}
