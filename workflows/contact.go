package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/domain"
)

// Defaults for ContactSync; the input can override them.
const (
	DefaultDebounce   = time.Second
	DefaultMaxHistory = 4000 // events before continue-as-new, well under Temporal's limits
	// DefaultQuietAfter is how long a person's workflow stays open with nothing to do. Its
	// state that matters lives in the ledger; what a new run starts without is the run's
	// pass count, last pass and the ids of recent events (a webhook redelivered after that
	// costs one pass that finds nothing to write).
	DefaultQuietAfter = 24 * time.Hour
	seenEventIDs      = 256 // recent event ids kept for dedupe across passes and runs
	maxContactPlans   = 3   // plans per pass when creates keep finding the person already there
)

// PassResult is what the sync-now update returns.
type PassResult struct {
	Pass    int             `json:"pass"`
	Summary string          `json:"summary"`
	Plan    json.RawMessage `json:"plan,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// contactSync is the workflow's state and its step methods.
type contactSync struct {
	in       domain.ContactSyncInput
	st       *domain.ContactState
	seen     map[string]bool
	lastPass PassResult
	running  bool // a pass is between taking its batch and finishing
	// saDirty is set when a search attribute value changed and must be upserted.
	saDirty bool
}

// ContactSync is the entity workflow of one linked person: it coalesces bursts of events
// into sync passes (plan → apply → record base) and runs children for tags, notes and
// tasks. It continues as new, state carried, when its history grows.
func ContactSync(ctx workflow.Context, in domain.ContactSyncInput) error {
	w := newContactSync(in)
	if err := workflow.SetQueryHandler(ctx, domain.QueryState, func() (domain.ContactState, error) { return *w.st, nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, domain.UpdateSyncNow, w.syncNow, workflow.UpdateHandlerOptions{}); err != nil {
		return err
	}
	events := workflow.GetSignalChannel(ctx, domain.SignalEvent)
	consume(ctx, events, w.add)
	w.describe(ctx)

	for {
		idle, err := w.awaitWork(ctx, events)
		if err != nil {
			return err
		}
		if idle {
			// Quiet: complete, unless an event was delivered meanwhile. One delivered after
			// this task began makes the server refuse the completion and run the task again,
			// which then sees it; one sent after completion starts a new run.
			if err := w.drain(ctx, events); err != nil {
				return err
			}
			if len(w.st.Pending) == 0 {
				return nil
			}
			continue
		}
		if len(w.st.Pending) == 0 {
			return w.continueAsNew(ctx, events)
		}
		// Debounce: a burst of edits becomes one pass.
		if !w.skipDebounce(ctx) {
			if err := workflow.Sleep(ctx, w.debounce()); err != nil {
				return err
			}
		}
		batch := w.st.Pending
		w.st.Pending = nil
		if gone := w.runPass(ctx, batch); gone {
			return w.finishGone(ctx, events)
		}
		if w.shouldContinue(ctx) {
			return w.continueAsNew(ctx, events)
		}
	}
}

func newContactSync(in domain.ContactSyncInput) *contactSync {
	st := in.State
	if st == nil {
		st = &domain.ContactState{Ref: in.Ref}
	}
	in.State = nil
	w := &contactSync{in: in, st: st, seen: map[string]bool{}}
	for _, id := range st.Seen {
		w.seen[id] = true
	}
	return w
}

// awaitWork waits for an event or the need to continue as new; idle says the quiet time
// passed with neither. The quiet timer is cancelled when an event comes first, so no timer
// is left behind per pass.
func (w *contactSync) awaitWork(ctx workflow.Context, events workflow.ReceiveChannel) (idle bool, err error) {
	ready := func() bool { return len(w.st.Pending) > 0 || w.shouldContinue(ctx) }
	quiet := w.quietAfter()
	// A signal still in the channel (the one that started this run, before consume took it)
	// is work too: no timer for it.
	if ready() || events.Len() > 0 || quiet <= 0 || workflow.GetVersion(ctx, changeQuietCompletes, workflow.DefaultVersion, 1) < 1 {
		return false, workflow.Await(ctx, ready)
	}
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	timer := workflow.NewTimer(tctx, quiet)
	if err := workflow.Await(ctx, func() bool { return ready() || timer.IsReady() }); err != nil {
		return false, err
	}
	return !ready(), nil
}

func (w *contactSync) quietAfter() time.Duration {
	if w.in.QuietAfter != 0 {
		return w.in.QuietAfter
	}
	return DefaultQuietAfter
}

func (w *contactSync) debounce() time.Duration {
	if w.in.Debounce > 0 {
		return w.in.Debounce
	}
	return DefaultDebounce
}

// skipDebounce says the pending batch is backfill requests only: no burst of edits to
// coalesce (the backfill sends one request per person and paces them with its window), so
// the timer would only add history events and latency to every backfilled person.
func (w *contactSync) skipDebounce(ctx workflow.Context) bool {
	for _, e := range w.st.Pending {
		if e.Source != domain.SourceBackfill {
			return false
		}
	}
	return workflow.GetVersion(ctx, changeBackfillNoDebounce, workflow.DefaultVersion, 1) >= 1
}

// add queues an event unless its id was seen already (webhooks are delivered at least once).
func (w *contactSync) add(e domain.Event) {
	if e.ID != "" {
		if w.seen[e.ID] {
			return
		}
		w.seen[e.ID] = true
		w.st.Seen = append(w.st.Seen, e.ID)
		if len(w.st.Seen) > seenEventIDs {
			delete(w.seen, w.st.Seen[0])
			w.st.Seen = w.st.Seen[1:]
		}
	}
	if e.ReplyTo != "" {
		w.st.Notify = append(w.st.Notify, domain.PersonDoneRequest{WorkflowID: e.ReplyTo})
	}
	w.st.Pending = append(w.st.Pending, e)
}

func (w *contactSync) shouldContinue(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	limit := w.in.MaxHistory
	if limit <= 0 {
		limit = DefaultMaxHistory
	}
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > limit
}

// continueAsNew hands the state to a fresh run once no update handler is mid-flight and
// every signal already delivered is in the carried state.
func (w *contactSync) continueAsNew(ctx workflow.Context, events workflow.ReceiveChannel) error {
	if err := w.drain(ctx, events); err != nil {
		return err
	}
	next := w.in
	next.State = w.st
	return workflow.NewContinueAsNewError(ctx, ContactSync, next)
}

// finishGone ends the workflow of a link that was absorbed into another person's link
// (which syncs them now). Events delivered meanwhile are answered first: a backfill waiting
// for this person must hear back, or its window would never drain.
func (w *contactSync) finishGone(ctx workflow.Context, events workflow.ReceiveChannel) error {
	if err := w.drain(ctx, events); err != nil {
		return err
	}
	w.notify(ctx, false, false)
	return nil
}

// drain waits for update handlers to finish, then takes every signal already delivered, so
// a run that ends hands all of them on.
func (w *contactSync) drain(ctx workflow.Context, events workflow.ReceiveChannel) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	for {
		var e domain.Event
		if !events.ReceiveAsync(&e) {
			return nil
		}
		w.add(e)
	}
}

// syncNow is the sync-now update: queue an operator event and return the pass that ran it.
func (w *contactSync) syncNow(ctx workflow.Context) (PassResult, error) {
	// The event joins the next batch; a pass already running does not include it.
	target := w.st.Passes + 1
	if w.running {
		target++
	}
	w.add(domain.Event{Source: domain.SourceOperator, Kind: domain.KindAll, OccurredAt: workflow.Now(ctx)})
	if err := workflow.Await(ctx, func() bool { return w.st.Passes >= target }); err != nil {
		return PassResult{}, err
	}
	return w.lastPass, nil
}

// needs says which parts of the person a batch of events touches.
type needs struct{ contact, tags, notes, tasks bool }

// partsTouched says which parts of the person a batch of events asks to sync.
func partsTouched(batch []domain.Event) needs {
	var n needs
	for _, e := range batch {
		switch e.Kind {
		case domain.KindContact, domain.KindContactDeleted, domain.KindAppointment:
			n.contact = true
		case domain.KindTags:
			n.tags = true
		case domain.KindNotes:
			n.notes = true
		case domain.KindTasks:
			n.tasks = true
		default: // KindAll and anything unknown: a full pass is the safe answer
			n = needs{true, true, true, true}
		}
	}
	return n
}

// HeartbeatTimeout is how long an activity may go without a heartbeat before Temporal
// retries it elsewhere: how long a SIGKILLed worker's in-flight activities wait. Every
// activity heartbeats while it runs (internal/heartbeat, every third of this), so it only
// has to outlast a heartbeat RPC that fails once.
const HeartbeatTimeout = 10 * time.Second

// activityOptions retry transient failures (5xx, 429 with the server's wait, network,
// database) for up to 20 minutes, and fail at once on what retrying cannot fix; either way
// the outcome is a result or a dead letter, never a silent drop. A dead worker is noticed
// by the missing heartbeat; StartToCloseTimeout only bounds an attempt that hangs in a live
// worker: these activities make a few sequential HTTP calls (each bounded by the clients'
// 30 s timeout, a rate-limit wait beyond the deadline is returned as a retry instead), so
// 2 minutes.
func activityOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    2 * time.Minute,
		HeartbeatTimeout:       HeartbeatTimeout,
		ScheduleToCloseTimeout: 20 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: activities.NonRetryableErrorTypes,
		},
	})
}

// runPass runs one sync pass over a batch of events; it reports whether the link is gone.
func (w *contactSync) runPass(ctx workflow.Context, batch []domain.Event) (gone bool) {
	n := partsTouched(batch)
	w.running = true
	result := PassResult{Pass: w.st.Passes + 1}
	var summaries []string
	failed, created := false, false

	if n.contact {
		var c contactStep
		c, n = w.syncContact(ctx, batch, n)
		failed, created, gone = c.failed, c.created, c.gone
		result.Plan = c.plan
		summaries = append(summaries, c.summary)
	}

	if !failed && !gone {
		summaries, failed = w.runChildren(ctx, n, batch, summaries)
	}

	w.st.LastPass = workflow.Now(ctx)
	w.st.LastPlan = strings.Join(summaries, "; ")
	result.Summary = w.st.LastPlan
	if failed {
		result.Error = w.st.LastError
		w.setStatus(domain.StatusError)
	} else {
		w.st.LastError = ""
		if w.st.Status != domain.StatusDeleted {
			w.setStatus(domain.StatusOK)
		}
	}
	w.lastPass = result
	w.st.Passes = result.Pass
	w.running = false
	w.notify(ctx, created, failed)
	w.describe(ctx)
	return gone
}

// contactStep is how a pass's contact step went.
type contactStep struct {
	failed, created, gone bool
	plan                  json.RawMessage
	summary               string
}

// syncContact plans and applies the contact itself, and returns which of the other parts
// the pass still needs: a first-sync merge needs them all, a create or delete fewer.
func (w *contactSync) syncContact(ctx workflow.Context, batch []domain.Event, n needs) (contactStep, needs) {
	in := domain.PlanInput{Ref: w.st.Ref, Events: batch}
	plan, createdOn, matched, err := w.planAndApplyContact(ctx, in)
	if matched && err == nil {
		// Linked to someone who already existed: their tags, notes and tasks merge now.
		n.tags, n.notes, n.tasks = true, true, true
	}
	out := contactStep{created: len(createdOn) > 0}
	if err != nil {
		out.failed, out.summary = true, "contact failed"
		w.deadLetter(ctx, "ContactSync.contact", in, err)
		return out, n
	}
	out.gone, out.plan, out.summary = plan.LinkGone, plan.Plan, "contact: "+plan.Summary
	// A create carries the tags (and apply records them). A person new in HighLevel
	// has no notes or tasks there yet; one new in Referrizer needs their HighLevel
	// notes and tasks projected.
	for _, side := range createdOn {
		switch side {
		case "ghl":
			n.tags, n.notes, n.tasks = false, false, false
		case "rz":
			n.tags, n.notes, n.tasks = false, true, true
		}
	}
	if len(plan.Deleted) > 0 {
		w.setStatus(domain.StatusDeleted)
		n.tags, n.notes, n.tasks = false, false, false
	}
	return out, n
}

// planAndApplyContact plans the contact and applies the plan. A create that finds the
// person already there links them and asks for a new plan: their first-sync merge. Bounded:
// a third find in a row is left to the next event. It returns the last plan, the sides the
// person was created on, and whether they were matched to someone who already existed.
func (w *contactSync) planAndApplyContact(ctx workflow.Context, in domain.PlanInput) (plan activities.ContactPlan, createdOn []string, matched bool, err error) {
	var c *activities.Contacts
	actx := activityOptions(ctx)
	for attempt := 0; attempt < maxContactPlans; attempt++ {
		err = workflow.ExecuteActivity(actx, c.PlanContact, in).Get(ctx, &plan)
		matched = matched || (err == nil && plan.Match != nil)
		if err != nil || !(plan.Writes || plan.NeedsBase) {
			if err == nil {
				w.setIDs(plan.GHLID, plan.RZID)
			}
			break
		}
		var applied activities.ApplyResult
		if err = workflow.ExecuteActivity(actx, c.ApplyContact, plan).Get(ctx, &applied); err != nil {
			break
		}
		w.setIDs(applied.GHLID, applied.RZID)
		createdOn = applied.Created
		if !applied.Rematch && !applied.Replan {
			break
		}
		// Replan: HighLevel moved since the plan read it (an edit in between); read again.
		// Never set before this was added, so the histories of older runs replay unchanged.
		matched = matched || applied.Rematch
		in.Fresh = in.Fresh || applied.Replan
	}
	return plan, createdOn, matched, err
}

// runChildren runs the children a batch needs and waits for them all (before version 1 of
// changeObjectsActivity; since then syncObjects does their work in one activity). They run
// one at a time: each writes the same Referrizer contact, which only takes whole-record writes, so
// two at once could each write back the other's stale read (run before version 1, they ran
// concurrently and a notes write could erase the tasks written a moment earlier).
func (w *contactSync) runChildren(ctx workflow.Context, n needs, batch []domain.Event, summaries []string) ([]string, bool) {
	if workflow.GetVersion(ctx, changeObjectsActivity, workflow.DefaultVersion, 1) >= 1 {
		return w.syncObjects(ctx, n, batch, summaries)
	}
	oneAtATime := workflow.GetVersion(ctx, changeChildrenOneAtATime, workflow.DefaultVersion, 1) >= 1
	type child struct {
		object string
		future workflow.ChildWorkflowFuture
	}
	failed := false
	wait := func(k child) {
		var out ObjectSyncResult
		if err := k.future.Get(ctx, &out); err != nil {
			failed = true
			summaries = append(summaries, k.object+" failed")
			w.deadLetter(ctx, "ContactSync."+k.object, domain.PlanInput{Ref: w.st.Ref, Events: batch}, err)
			return
		}
		summaries = append(summaries, k.object+": "+out.Summary)
	}
	var kids []child
	for _, k := range []struct {
		on     bool
		object string
		fn     any
	}{{n.tags, "tags", TagSync}, {n.notes, "notes", NoteSync}, {n.tasks, "tasks", TaskSync}} {
		if !k.on {
			continue
		}
		w.st.ChildSeq++
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:        domain.ChildWorkflowID(w.st.ConnectionID, w.st.LinkID, k.object, w.st.ChildSeq),
			ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_TERMINATE,
			// The child retries its activities itself; a failed child is reported, not rerun.
			WorkflowRunTimeout: time.Hour,
		})
		c := child{k.object, workflow.ExecuteChildWorkflow(cctx, k.fn, ObjectSyncInput{Ref: w.st.Ref, Events: batch})}
		if oneAtATime {
			wait(c)
		} else {
			kids = append(kids, c)
		}
	}
	for _, k := range kids {
		wait(k)
	}
	return summaries, failed
}

func (w *contactSync) setIDs(ghlID, rzID string) {
	if ghlID != "" && ghlID != w.st.GHLID {
		w.st.GHLID, w.saDirty = ghlID, true
	}
	if rzID != "" && rzID != w.st.RZID {
		w.st.RZID, w.saDirty = rzID, true
	}
}

func (w *contactSync) setStatus(s string) {
	if s != w.st.Status {
		w.st.Status, w.saDirty = s, true
	}
}

// deadLetter records an exhausted failure so an operator can replay it.
func (w *contactSync) deadLetter(ctx workflow.Context, kind string, input domain.PlanInput, cause error) {
	w.st.LastError = fmt.Sprintf("%s: %v", kind, cause)
	info := workflow.GetInfo(ctx)
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	if err := workflow.ExecuteLocalActivity(lctx, activities.RecordDeadLetterName, activities.DeadLetterInput{
		Ref: w.st.Ref, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
		Kind: kind, Input: input, Error: cause.Error(),
	}).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("could not record dead letter", "kind", kind, "error", err)
	}
}

// notify tells every waiting backfill how this pass went.
func (w *contactSync) notify(ctx workflow.Context, created, failed bool) {
	if len(w.st.Notify) == 0 {
		return
	}
	// Count requests per workflow, in first-seen order (no map iteration in workflow code).
	var order []string
	count := map[string]int{}
	for _, r := range w.st.Notify {
		if count[r.WorkflowID] == 0 {
			order = append(order, r.WorkflowID)
		}
		count[r.WorkflowID]++
	}
	w.st.Notify = nil
	for _, id := range order {
		// A finished backfill cannot be signalled; that is fine, it no longer waits.
		_ = workflow.SignalExternalWorkflow(ctx, id, "", domain.SignalPersonDone, domain.PersonDone{LinkID: w.st.LinkID, Created: created, Failed: failed, Count: count[id]}).Get(ctx, nil)
	}
}

// describe keeps the search attributes and the UI's current-details line up to date.
func (w *contactSync) describe(ctx workflow.Context) {
	if w.saDirty || w.st.Passes == 0 {
		updates := []temporal.SearchAttributeUpdate{domain.SAConnection.ValueSet(w.st.ConnectionID)}
		if w.st.GHLID != "" {
			updates = append(updates, domain.SAGHLID.ValueSet(w.st.GHLID))
		}
		if w.st.RZID != "" {
			updates = append(updates, domain.SARZID.ValueSet(w.st.RZID))
		}
		if w.st.Status != "" {
			updates = append(updates, domain.SAStatus.ValueSet(w.st.Status))
		}
		if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
			workflow.GetLogger(ctx).Warn("upsert search attributes failed", "error", err)
		}
		w.saDirty = false
	}
	details := fmt.Sprintf("**%s** · pass %d · HighLevel `%s` · Referrizer `%s`", orDash(w.st.Status), w.st.Passes, orDash(w.st.GHLID), orDash(w.st.RZID))
	if w.st.LastPlan != "" {
		details += "\n\nLast pass: " + w.st.LastPlan
	}
	if w.st.LastError != "" {
		details += "\n\nLast error: " + w.st.LastError
	}
	workflow.SetCurrentDetails(ctx, details)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
