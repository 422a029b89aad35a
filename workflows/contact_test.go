package workflows_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/workflows"
)

// recorder counts what the mocked activities were asked to do.
type recorder struct {
	mu       sync.Mutex
	plans    [][]domain.Event
	fresh    []bool // each plan's PlanInput.Fresh
	applies  int
	replans  int // the first applies answer Replan (HighLevel moved since the plan)
	children map[string]int
	dead     []activities.DeadLetterInput
	// objectErr makes SyncObjects report an object failed for good; syncObjectsErr fails
	// the whole activity.
	objectErr      map[string]string
	syncObjectsErr error
	objectCalls    [][]string // each SyncObjects call's objects
	planTimes      []time.Time
	now            func() time.Time
}

func (r *recorder) plan(_ context.Context, in domain.PlanInput) (activities.ContactPlan, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.plans = append(r.plans, in.Events)
	r.fresh = append(r.fresh, in.Fresh)
	if r.now != nil {
		r.planTimes = append(r.planTimes, r.now())
	}
	return activities.ContactPlan{Ref: in.Ref, Summary: "rz: set email", Writes: true, GHLID: "g1", RZID: "r1"}, nil
}

func (r *recorder) apply(_ context.Context, p activities.ContactPlan) (activities.ApplyResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applies++
	if r.applies <= r.replans {
		return activities.ApplyResult{GHLID: p.GHLID, RZID: p.RZID, Replan: true}, nil
	}
	return activities.ApplyResult{RZWrites: 1, GHLID: p.GHLID, RZID: p.RZID}, nil
}

func newEnv(t *testing.T, planErr ...error) (*testsuite.TestWorkflowEnvironment, *recorder) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	r := &recorder{children: map[string]int{}}
	r.now = env.Now
	c, o, ops := &activities.Contacts{}, &activities.Objects{}, &activities.Ops{}
	env.RegisterActivity(c)
	env.RegisterActivity(o)
	env.RegisterActivity(ops)
	env.RegisterWorkflow(workflows.TagSync)
	env.RegisterWorkflow(workflows.NoteSync)
	env.RegisterWorkflow(workflows.TaskSync)
	if len(planErr) > 0 {
		env.OnActivity(c.PlanContact, mock.Anything, mock.Anything).Return(activities.ContactPlan{}, planErr[0])
	} else {
		env.OnActivity(c.PlanContact, mock.Anything, mock.Anything).Return(r.plan)
	}
	env.OnActivity(c.ApplyContact, mock.Anything, mock.Anything).Return(r.apply)
	// The children (run by histories recorded before objects-activity) and SyncObjects
	// (since) both count the objects they were asked to sync.
	for _, obj := range []struct {
		name  string
		plan  any
		apply any
	}{{"tags", o.PlanTags, o.ApplyTags}, {"notes", o.PlanNotes, o.ApplyNotes}, {"tasks", o.PlanTasks, o.ApplyTasks}} {
		env.OnActivity(obj.plan, mock.Anything, mock.Anything).Return(func(_ context.Context, in domain.PlanInput) (activities.ObjectPlan, error) {
			r.mu.Lock()
			r.children[obj.name]++
			r.mu.Unlock()
			return activities.ObjectPlan{Ref: in.Ref, Object: obj.name, Summary: obj.name + " unchanged"}, nil
		}).Maybe()
		env.OnActivity(obj.apply, mock.Anything, mock.Anything).Return(activities.ApplyResult{}, nil).Maybe()
	}
	env.OnActivity(o.SyncObjects, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SyncObjectsInput) (activities.SyncObjectsResult, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		var out activities.SyncObjectsResult
		r.objectCalls = append(r.objectCalls, in.Objects)
		for _, obj := range in.Objects {
			r.children[obj]++
			res := activities.ObjectOutcome{Object: obj, Summary: obj + " unchanged"}
			if err := r.objectErr[obj]; err != "" {
				res.Summary, res.Error = "", err
			}
			out.Objects = append(out.Objects, res)
		}
		return out, r.syncObjectsErr
	}).Maybe()
	env.OnActivity(ops.RecordDeadLetter, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DeadLetterInput) (int64, error) {
		r.mu.Lock()
		r.dead = append(r.dead, in)
		r.mu.Unlock()
		return 1, nil
	}).Maybe()
	return env, r
}

var ref = domain.Ref{ConnectionID: "c1", LinkID: "l1"}

func ev(id, kind string) domain.Event {
	return domain.Event{Source: domain.SourceGHL, ID: id, Kind: kind}
}

// A burst of events inside the debounce window becomes one pass; a duplicate delivery of
// an event id is dropped.
func TestContactSyncDebouncesAndDedupes(t *testing.T) {
	env, r := newEnv(t)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("wh-1", domain.KindContact)) }, time.Millisecond)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("wh-2", domain.KindContact)) }, 300*time.Millisecond)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("wh-1", domain.KindContact)) }, 600*time.Millisecond)
	// After the pass: the duplicate of wh-2 again, then a new event for a second pass.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("wh-2", domain.KindContact)) }, 5*time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("wh-3", domain.KindContact)) }, 6*time.Second)
	env.RegisterDelayedCallback(func() {
		res, err := env.QueryWorkflow(domain.QueryState)
		if err != nil {
			t.Fatal(err)
		}
		var st domain.ContactState
		if err := res.Get(&st); err != nil {
			t.Fatal(err)
		}
		if st.Passes != 2 || st.GHLID != "g1" || st.RZID != "r1" || st.Status != domain.StatusOK || st.LastPlan == "" {
			t.Errorf("state after two passes = %+v", st)
		}
		env.CancelWorkflow()
	}, 20*time.Second)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref, Debounce: time.Second})

	if len(r.plans) != 2 {
		t.Fatalf("passes = %d, want 2 (burst coalesced, duplicates dropped)", len(r.plans))
	}
	if got := ids(r.plans[0]); got != "wh-1,wh-2" {
		t.Errorf("first pass events = %s, want wh-1,wh-2", got)
	}
	if got := ids(r.plans[1]); got != "wh-3" {
		t.Errorf("second pass events = %s, want wh-3", got)
	}
	if r.applies != 2 {
		t.Errorf("applies = %d, want 2", r.applies)
	}
	if len(r.children) != 0 {
		t.Errorf("contact events started children: %v", r.children)
	}
}

// An apply that finds HighLevel moved since the plan (Replan) is planned again from fresh
// reads, in the same pass and without the first-sync children a match would start.
func TestContactSyncPlansAgainWhenHighLevelMoved(t *testing.T) {
	env, r := newEnv(t)
	r.replans = 1
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("rz-1", domain.KindContact)) }, time.Millisecond)
	env.RegisterDelayedCallback(env.CancelWorkflow, 20*time.Second)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref})

	if len(r.fresh) != 2 || r.fresh[0] || !r.fresh[1] {
		t.Fatalf("plans fresh = %v, want a bulk-allowed plan then a fresh one", r.fresh)
	}
	if r.applies != 2 {
		t.Errorf("applies = %d, want 2", r.applies)
	}
	if len(r.children) != 0 {
		t.Errorf("a replan started children: %v", r.children)
	}
}

func ids(evs []domain.Event) string {
	s := ""
	for i, e := range evs {
		if i > 0 {
			s += ","
		}
		s += e.ID
	}
	return s
}

// Tag, note and task events run the matching children, and only those.
func TestContactSyncRunsChildren(t *testing.T) {
	env, r := newEnv(t)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(domain.SignalEvent, ev("n1", domain.KindNotes))
		env.SignalWorkflow(domain.SignalEvent, ev("t1", domain.KindTasks))
	}, time.Millisecond)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("g1", domain.KindTags)) }, 5*time.Second)
	env.RegisterDelayedCallback(env.CancelWorkflow, 20*time.Second)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref})

	if len(r.plans) != 0 {
		t.Errorf("contact plans = %d, want 0 for object-only events", len(r.plans))
	}
	want := map[string]int{"notes": 1, "tasks": 1, "tags": 1}
	for k, v := range want {
		if r.children[k] != v {
			t.Errorf("children = %v, want %v", r.children, want)
			break
		}
	}
}

// A failing plan becomes a dead letter with the input needed to replay it, and the state
// shows the error.
func TestContactSyncDeadLettersExhaustedFailures(t *testing.T) {
	env, r := newEnv(t, temporal.NewNonRetryableApplicationError("ghl: validation", activities.ErrTypeValidation, errors.New("bad email")))
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("wh-9", domain.KindContact)) }, time.Millisecond)
	env.RegisterDelayedCallback(func() {
		res, _ := env.QueryWorkflow(domain.QueryState)
		var st domain.ContactState
		_ = res.Get(&st)
		if st.Status != domain.StatusError || st.LastError == "" {
			t.Errorf("state after failure = %+v", st)
		}
		env.CancelWorkflow()
	}, 10*time.Second)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref})

	if len(r.dead) != 1 || r.dead[0].Kind != "ContactSync.contact" || len(r.dead[0].Input.Events) != 1 || r.dead[0].WorkflowID == "" {
		t.Fatalf("dead letters = %+v", r.dead)
	}
}

// When Temporal suggests it, ContactSync continues as new carrying pending events, the
// dedupe set and its counters.
func TestContactSyncContinuesAsNewWithState(t *testing.T) {
	env, _ := newEnv(t)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("wh-1", domain.KindContact)) }, time.Millisecond)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(domain.SignalEvent, ev("wh-2", domain.KindContact)) }, 5*time.Second)
	// Suggested while idle: the workflow continues as new without waiting for more work.
	env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, 10*time.Second)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref, Debounce: time.Second})

	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var next domain.ContactSyncInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.State == nil || next.Ref != ref || next.Debounce != time.Second {
		t.Fatalf("carried input = %+v", next)
	}
	st := next.State
	if st.Passes != 2 || st.GHLID != "g1" || st.RZID != "r1" || len(st.Pending) != 0 {
		t.Errorf("carried counters = %+v", st)
	}
	seen := map[string]bool{}
	for _, id := range st.Seen {
		seen[id] = true
	}
	if !seen["wh-1"] || !seen["wh-2"] {
		t.Errorf("dedupe set not carried: %v", st.Seen)
	}
}

// The sync-now update runs a pass and returns it.
func TestContactSyncNowUpdate(t *testing.T) {
	env, r := newEnv(t)
	var got workflows.PassResult
	var updErr error
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(domain.UpdateSyncNow, "u1", &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { updErr = err },
			OnComplete: func(v any, err error) { got, _ = v.(workflows.PassResult); updErr = err },
		})
	}, time.Millisecond)
	env.RegisterDelayedCallback(env.CancelWorkflow, 30*time.Second)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref})
	if updErr != nil {
		t.Fatal(updErr)
	}
	if got.Pass != 1 || got.Summary == "" {
		t.Errorf("update result = %+v", got)
	}
	if len(r.plans) != 1 || r.plans[0][0].Source != domain.SourceOperator {
		t.Errorf("plans = %+v", r.plans)
	}
}

// Every activity of a pass heartbeats with HeartbeatTimeout, so a killed worker's activity
// is retried after it rather than after its StartToCloseTimeout.
func TestContactSyncActivitiesHaveHeartbeatTimeout(t *testing.T) {
	env, _ := newEnv(t)
	var mu sync.Mutex
	seen := map[string]time.Duration{}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		mu.Lock()
		defer mu.Unlock()
		seen[info.ActivityType.Name] = info.HeartbeatTimeout
	})
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(domain.SignalEvent, ev("c1", domain.KindContact))
		env.SignalWorkflow(domain.SignalEvent, ev("n1", domain.KindNotes))
	}, time.Millisecond)
	env.RegisterDelayedCallback(env.CancelWorkflow, 20*time.Second)
	env.ExecuteWorkflow(workflows.ContactSync, domain.ContactSyncInput{Ref: ref})
	for _, name := range []string{"PlanContact", "ApplyContact", "SyncObjects"} {
		if got, ok := seen[name]; !ok || got != workflows.HeartbeatTimeout {
			t.Errorf("%s: heartbeat timeout %v (ran: %v), want %v", name, got, ok, workflows.HeartbeatTimeout)
		}
	}
}
