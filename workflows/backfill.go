package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/domain"
)

// Backfill defaults.
const (
	backfillDrainTimeout = 2 * time.Hour
)

// backfill is the workflow's state and its step methods.
type backfill struct {
	in   domain.BackfillInput
	st   *domain.BackfillState
	p    *domain.BackfillProgress // &st.Progress
	done workflow.ReceiveChannel  // person-done signals from the first passes
}

// Backfill links every person of a connection across both sides and gives each a first
// sync pass, keeping at most Window passes in flight. Matching happens before any pass, so
// no pass creates a person the other side already has. It continues as new after every
// page, so a crashed worker resumes at the next unfinished page.
func Backfill(ctx workflow.Context, in domain.BackfillInput) (domain.BackfillProgress, error) {
	w := newBackfill(ctx, in)
	if err := workflow.SetQueryHandler(ctx, domain.QueryProgress, func() (domain.BackfillProgress, error) { return *w.p, nil }); err != nil {
		return *w.p, err
	}
	w.done = workflow.GetSignalChannel(ctx, domain.SignalPersonDone)
	consume(ctx, w.done, func(d domain.PersonDone) { w.record(ctx, d) })
	workflow.SetCurrentDetails(ctx, backfillDetails(*w.p))

	switch w.p.Phase {
	case domain.PhaseGHL, domain.PhaseRZ, domain.PhaseSync:
		return w.runPage(ctx)
	case domain.PhaseDraining:
		return w.finish(ctx)
	}
	return *w.p, fmt.Errorf("backfill: unknown phase %q", w.p.Phase)
}

func newBackfill(ctx workflow.Context, in domain.BackfillInput) *backfill {
	setBackfillDefaults(&in)
	st := in.State
	if st == nil {
		st = &domain.BackfillState{Progress: domain.BackfillProgress{Phase: domain.PhaseGHL, StartedAt: workflow.Now(ctx)}}
	}
	return &backfill{in: in, st: st, p: &st.Progress}
}

// record counts one person-done signal.
func (w *backfill) record(ctx workflow.Context, d domain.PersonDone) {
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
func (w *backfill) runPage(ctx workflow.Context) (domain.BackfillProgress, error) {
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
			Event: domain.Event{
				Source: domain.SourceBackfill, Kind: domain.KindAll, ReplyTo: self, OccurredAt: workflow.Now(ctx),
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
	case domain.PhaseGHL:
		w.p.Phase = domain.PhaseRZ
	case domain.PhaseRZ:
		w.p.Phase = domain.PhaseSync
	default:
		w.p.Phase = domain.PhaseDraining
	}
}

// finish waits for the last people's first passes (bounded: a lost signal must not keep
// the backfill open forever) and ends the backfill.
func (w *backfill) finish(ctx workflow.Context) (domain.BackfillProgress, error) {
	ok, err := workflow.AwaitWithTimeout(ctx, backfillDrainTimeout, func() bool { return w.p.InFlight() <= 0 })
	if err != nil {
		return *w.p, err
	}
	if !ok {
		workflow.GetLogger(ctx).Warn("backfill finished with passes still unconfirmed", "inFlight", w.p.InFlight())
	}
	w.p.Phase = domain.PhaseDone
	w.p.UpdatedAt = workflow.Now(ctx)
	workflow.SetCurrentDetails(ctx, backfillDetails(*w.p))
	return *w.p, nil
}

// continueAsNew drains person-done signals already delivered and continues as new.
func (w *backfill) continueAsNew(ctx workflow.Context) (domain.BackfillProgress, error) {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return *w.p, err
	}
	for {
		var d domain.PersonDone
		if !w.done.ReceiveAsync(&d) {
			break
		}
		w.record(ctx, d)
	}
	next := w.in
	next.State = w.st
	return *w.p, workflow.NewContinueAsNewError(ctx, Backfill, next)
}

func setBackfillDefaults(in *domain.BackfillInput) {
	if in.PageSize <= 0 {
		in.PageSize = domain.DefaultBackfillPageSize
	}
	if in.Window <= 0 {
		in.Window = domain.DefaultBackfillWindow
	}
	if in.BatchSize <= 0 {
		in.BatchSize = domain.DefaultBackfillBatch
	}
}

func backfillDetails(p domain.BackfillProgress) string {
	return fmt.Sprintf("**%s** · pages %d · seen %d · linked %d · new %d · started %d · synced %d · created %d · failed %d · ambiguous %d",
		p.Phase, p.Pages, p.Seen, p.Linked, p.New, p.Started, p.Synced, p.Created, p.Failed, p.Ambiguous)
}
