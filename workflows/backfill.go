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

// Backfill links every person of a connection across both sides and gives each a first
// sync pass, keeping at most Window passes in flight. Matching happens before any pass, so
// no pass creates a person the other side already has. It continues as new after every
// page, so a crashed worker resumes at the next unfinished page.
func Backfill(ctx workflow.Context, in BackfillInput) (BackfillProgress, error) {
	setBackfillDefaults(&in)
	st := in.State
	if st == nil {
		st = &BackfillState{Progress: BackfillProgress{Phase: PhaseGHL, StartedAt: workflow.Now(ctx)}}
	}
	p := &st.Progress
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (BackfillProgress, error) { return *p, nil }); err != nil {
		return *p, err
	}
	done := workflow.GetSignalChannel(ctx, SignalPersonDone)
	record := func(d PersonDone) {
		n := max(d.Count, 1)
		if d.Failed {
			p.Failed += n
		} else {
			p.Synced += n
		}
		if d.Created {
			p.Created++
		}
		p.UpdatedAt = workflow.Now(ctx)
	}
	consume(ctx, done, record)
	workflow.SetCurrentDetails(ctx, backfillDetails(*p))

	actx := activityOptions(ctx)
	var b *activities.Backfill
	switch p.Phase {
	case PhaseGHL, PhaseRZ, PhaseSync:
		var page activities.BackfillPage
		if err := workflow.ExecuteActivity(actx, b.BackfillPage, activities.BackfillPageInput{
			ConnectionID: in.ConnectionID, Side: p.Phase, Cursor: st.Cursor, PageSize: in.PageSize,
		}).Get(ctx, &page); err != nil {
			return *p, fmt.Errorf("backfill %s page %d: %w", p.Phase, p.Pages+1, err)
		}
		p.Pages++
		p.Seen += page.Seen
		p.Linked += page.Linked
		p.New += page.New
		p.Ambiguous += page.Ambiguous
		self := workflow.GetInfo(ctx).WorkflowExecution.ID
		for start := 0; start < len(page.LinkIDs); start += in.BatchSize {
			batch := page.LinkIDs[start:min(start+in.BatchSize, len(page.LinkIDs))]
			if err := workflow.Await(ctx, func() bool { return p.InFlight()+len(batch) <= in.Window }); err != nil {
				return *p, err
			}
			if err := workflow.ExecuteActivity(actx, b.StartSyncs, activities.StartSyncsInput{
				ConnectionID: in.ConnectionID, LinkIDs: batch,
				Event: activities.Event{
					Source: activities.SourceBackfill, Kind: activities.KindAll, ReplyTo: self, OccurredAt: workflow.Now(ctx),
					// Unique per backfill run and page; ContactSync dedupes per person.
					ID: fmt.Sprintf("backfill:%d:%d", p.StartedAt.Unix(), p.Pages),
				},
			}).Get(ctx, nil); err != nil {
				return *p, fmt.Errorf("backfill: start syncs: %w", err)
			}
			p.Started += len(batch)
			p.UpdatedAt = workflow.Now(ctx)
		}
		st.Cursor = page.NextCursor
		if st.Cursor == "" {
			switch p.Phase {
			case PhaseGHL:
				p.Phase = PhaseRZ
			case PhaseRZ:
				p.Phase = PhaseSync
			default:
				p.Phase = PhaseDraining
			}
		}
		return continueBackfill(ctx, in, st, done, record)
	case PhaseDraining:
		ok, err := workflow.AwaitWithTimeout(ctx, backfillDrainTimeout, func() bool { return p.InFlight() <= 0 })
		if err != nil {
			return *p, err
		}
		if !ok {
			workflow.GetLogger(ctx).Warn("backfill finished with passes still unconfirmed", "inFlight", p.InFlight())
		}
		p.Phase = PhaseDone
		p.UpdatedAt = workflow.Now(ctx)
		workflow.SetCurrentDetails(ctx, backfillDetails(*p))
		return *p, nil
	}
	return *p, fmt.Errorf("backfill: unknown phase %q", p.Phase)
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

// continueBackfill drains person-done signals already delivered and continues as new.
func continueBackfill(ctx workflow.Context, in BackfillInput, st *BackfillState, done workflow.ReceiveChannel, record func(PersonDone)) (BackfillProgress, error) {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return st.Progress, err
	}
	for {
		var d PersonDone
		if !done.ReceiveAsync(&d) {
			break
		}
		record(d)
	}
	next := in
	next.State = st
	return st.Progress, workflow.NewContinueAsNewError(ctx, Backfill, next)
}

func backfillDetails(p BackfillProgress) string {
	return fmt.Sprintf("**%s** · pages %d · seen %d · linked %d · new %d · started %d · synced %d · created %d · failed %d · ambiguous %d",
		p.Phase, p.Pages, p.Seen, p.Linked, p.New, p.Started, p.Synced, p.Created, p.Failed, p.Ambiguous)
}
