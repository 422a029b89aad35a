package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/hlrz/hlrz/activities"
)

// Backfill defaults.
const (
	DefaultBackfillPageSize = 100
	DefaultBackfillWindow   = 200 // people whose first pass may be in flight at once
	DefaultBackfillBatch    = 50  // people signalled per StartSyncs activity
	backfillDrainTimeout    = 2 * time.Hour
)

// Backfill phases, in order.
const (
	PhaseGHL      = "ghl"      // page all HighLevel contacts: link each, index its email and phone
	PhaseRZ       = "rz"       // page all Referrizer contacts: match each to HighLevel, link it
	PhaseSync     = "sync"     // page the links: give every person a first pass, windowed
	PhaseDraining = "draining" // wait for the last people's first pass
	PhaseDone     = "done"
)

// BackfillInput starts (or continues) a connection's backfill.
type BackfillInput struct {
	ConnectionID string `json:"connectionId"`
	PageSize     int    `json:"pageSize,omitempty"`
	Window       int    `json:"window,omitempty"`
	BatchSize    int    `json:"batchSize,omitempty"`
	// State is carried across continue-as-new (one run per page).
	State *BackfillState `json:"state,omitempty"`
}

// BackfillState is the backfill's resumable position.
type BackfillState struct {
	Progress BackfillProgress `json:"progress"`
	Cursor   string           `json:"cursor,omitempty"`
}

// BackfillProgress is what the `progress` query returns.
type BackfillProgress struct {
	Phase     string    `json:"phase"`
	Pages     int       `json:"pages"`
	Seen      int       `json:"seen"`      // contacts read from either side
	Linked    int       `json:"linked"`    // matched across sides
	New       int       `json:"new"`       // only on one side when read
	Ambiguous int       `json:"ambiguous"` // several candidates; left for an operator
	Started   int       `json:"started"`   // first passes requested
	Synced    int       `json:"synced"`    // first passes finished
	Created   int       `json:"created"`   // people created on the other side
	Failed    int       `json:"failed"`    // first passes that failed (see dead letters)
	StartedAt time.Time `json:"startedAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// InFlight is how many requested first passes have not reported back.
func (p BackfillProgress) InFlight() int { return p.Started - p.Synced - p.Failed }

// backfill is the workflow's state and its step methods.
type backfill struct {
	in   BackfillInput
	st   *BackfillState
	p    *BackfillProgress       // &st.Progress
	done workflow.ReceiveChannel // person-done signals from the first passes
}

// Backfill links every person of a connection across both sides and gives each a first
// sync pass, keeping at most Window passes in flight. Matching happens before any pass, so
// no pass creates a person the other side already has. It continues as new after every
// page, so a crashed worker resumes at the next unfinished page.
func Backfill(ctx workflow.Context, in BackfillInput) (BackfillProgress, error) {
	w := newBackfill(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (BackfillProgress, error) { return *w.p, nil }); err != nil {
		return *w.p, err
	}
	w.done = workflow.GetSignalChannel(ctx, SignalPersonDone)
	consume(ctx, w.done, func(d PersonDone) { w.record(ctx, d) })
	workflow.SetCurrentDetails(ctx, backfillDetails(*w.p))

	switch w.p.Phase {
	case PhaseGHL, PhaseRZ, PhaseSync:
		return w.runPage(ctx)
	case PhaseDraining:
		return w.finish(ctx)
	}
	return *w.p, fmt.Errorf("backfill: unknown phase %q", w.p.Phase)
}

func newBackfill(ctx workflow.Context, in BackfillInput) *backfill {
	setBackfillDefaults(&in)
	st := in.State
	if st == nil {
		st = &BackfillState{Progress: BackfillProgress{Phase: PhaseGHL, StartedAt: workflow.Now(ctx)}}
	}
	return &backfill{in: in, st: st, p: &st.Progress}
}

// record counts one person-done signal.
func (w *backfill) record(ctx workflow.Context, d PersonDone) {
	n := max(d.Count, 1)
	if d.Failed {
		w.p.Failed += n
	} else {
		w.p.Synced += n
	}
	if d.Created {
		w.p.Created++
	}
	w.p.UpdatedAt = workflow.Now(ctx)
}

// runPage reads one page of the current phase, starts its people's first passes, and
// continues as new at the next page (or phase).
func (w *backfill) runPage(ctx workflow.Context) (BackfillProgress, error) {
	var acts *activities.Backfill
	var page activities.BackfillPageResult
	if err := workflow.ExecuteActivity(activityOptions(ctx), acts.BackfillPage, activities.BackfillPageInput{
		ConnectionID: w.in.ConnectionID, Side: w.p.Phase, Cursor: w.st.Cursor, PageSize: w.in.PageSize,
	}).Get(ctx, &page); err != nil {
		return *w.p, fmt.Errorf("backfill %s page %d: %w", w.p.Phase, w.p.Pages+1, err)
	}
	w.p.Pages++
	w.p.Seen += page.Seen
	w.p.Linked += page.Linked
	w.p.New += page.New
	w.p.Ambiguous += page.Ambiguous
	if err := w.startSyncs(ctx, page.LinkIDs); err != nil {
		return *w.p, err
	}
	w.st.Cursor = page.NextCursor
	if w.st.Cursor == "" {
		w.nextPhase()
	}
	return w.continueAsNew(ctx)
}

// startSyncs requests the first passes of a page's people in batches, waiting whenever
// a batch would take more than Window passes in flight.
func (w *backfill) startSyncs(ctx workflow.Context, linkIDs []string) error {
	var acts *activities.Backfill
	self := workflow.GetInfo(ctx).WorkflowExecution.ID
	for start := 0; start < len(linkIDs); start += w.in.BatchSize {
		batch := linkIDs[start:min(start+w.in.BatchSize, len(linkIDs))]
		if err := workflow.Await(ctx, func() bool { return w.p.InFlight()+len(batch) <= w.in.Window }); err != nil {
			return err
		}
		if err := workflow.ExecuteActivity(activityOptions(ctx), acts.StartSyncs, activities.StartSyncsInput{
			ConnectionID: w.in.ConnectionID, LinkIDs: batch,
			Event: activities.Event{
				Source: activities.SourceBackfill, Kind: activities.KindAll, ReplyTo: self, OccurredAt: workflow.Now(ctx),
				// Unique per backfill run and page; ContactSync dedupes per person.
				ID: fmt.Sprintf("backfill:%d:%d", w.p.StartedAt.Unix(), w.p.Pages),
			},
		}).Get(ctx, nil); err != nil {
			return fmt.Errorf("backfill: start syncs: %w", err)
		}
		w.p.Started += len(batch)
		w.p.UpdatedAt = workflow.Now(ctx)
	}
	return nil
}

// nextPhase moves on once the current phase's last page is read.
func (w *backfill) nextPhase() {
	switch w.p.Phase {
	case PhaseGHL:
		w.p.Phase = PhaseRZ
	case PhaseRZ:
		w.p.Phase = PhaseSync
	default:
		w.p.Phase = PhaseDraining
	}
}

// finish waits for the last people's first passes (bounded: a lost signal must not keep
// the backfill open forever) and ends the backfill.
func (w *backfill) finish(ctx workflow.Context) (BackfillProgress, error) {
	ok, err := workflow.AwaitWithTimeout(ctx, backfillDrainTimeout, func() bool { return w.p.InFlight() <= 0 })
	if err != nil {
		return *w.p, err
	}
	if !ok {
		workflow.GetLogger(ctx).Warn("backfill finished with passes still unconfirmed", "inFlight", w.p.InFlight())
	}
	w.p.Phase = PhaseDone
	w.p.UpdatedAt = workflow.Now(ctx)
	workflow.SetCurrentDetails(ctx, backfillDetails(*w.p))
	return *w.p, nil
}

// continueAsNew drains person-done signals already delivered and continues as new.
func (w *backfill) continueAsNew(ctx workflow.Context) (BackfillProgress, error) {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return *w.p, err
	}
	for {
		var d PersonDone
		if !w.done.ReceiveAsync(&d) {
			break
		}
		w.record(ctx, d)
	}
	next := w.in
	next.State = w.st
	return *w.p, workflow.NewContinueAsNewError(ctx, Backfill, next)
}

func setBackfillDefaults(in *BackfillInput) {
	if in.PageSize <= 0 {
		in.PageSize = DefaultBackfillPageSize
	}
	if in.Window <= 0 {
		in.Window = DefaultBackfillWindow
	}
	if in.BatchSize <= 0 {
		in.BatchSize = DefaultBackfillBatch
	}
}

func backfillDetails(p BackfillProgress) string {
	return fmt.Sprintf("**%s** · pages %d · seen %d · linked %d · new %d · started %d · synced %d · created %d · failed %d · ambiguous %d",
		p.Phase, p.Pages, p.Seen, p.Linked, p.New, p.Started, p.Synced, p.Created, p.Failed, p.Ambiguous)
}
