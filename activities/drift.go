package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// Drift repair defaults (ReconcileInput's zero values, when the connection's settings do not
// say otherwise).
const (
	DefaultReconcileEvery   = 30 * time.Minute
	DefaultReconcileOverlap = 10 * time.Minute
	DefaultTasksWithin      = 2 * time.Hour
	DefaultSweepWithin      = 48 * time.Hour
	DefaultDeletesEvery     = 6 * time.Hour
	DefaultReconcilePage    = 100
)

// Cursor names (store.Cursors) of the reconcile.
const (
	cursorChanges   = "reconcile/changes"    // changeMark: the high-water mark of the change read
	cursorOpenTasks = "reconcile/open-tasks" // rotationMark
	cursorSweep     = "reconcile/sweep"      // rotationMark
	cursorDeletes   = "reconcile/deletes"    // deletesMark
)

// changeMark is the newest (dateUpdated, id) the change read has passed.
type changeMark struct {
	At time.Time `json:"at"`
	ID string    `json:"id"`
}

// rotationMark is where a rotating re-read stopped: the last link id read.
type rotationMark struct {
	After string `json:"after"`
}

// deletesMark is when the delete listing last completed.
type deletesMark struct {
	At time.Time `json:"at"`
}

// ReconcileKnobs resolves a reconcile's settings: the input's, else the connection's, else
// the defaults.
func ReconcileKnobs(in domain.ReconcileInput, s store.Settings) domain.ReconcileInput {
	minutes := func(v time.Duration, setting int, def time.Duration) time.Duration {
		switch {
		case v > 0:
			return v
		case setting > 0:
			return time.Duration(setting) * time.Minute
		}
		return def
	}
	in.Every = minutes(in.Every, s.ReconcileMinutes, DefaultReconcileEvery)
	in.TasksWithin = minutes(in.TasksWithin, s.TasksRereadMinutes, DefaultTasksWithin)
	in.SweepWithin = minutes(in.SweepWithin, s.SweepMinutes, DefaultSweepWithin)
	in.DeletesEvery = minutes(in.DeletesEvery, s.DeletesEveryMinutes, DefaultDeletesEvery)
	if in.Overlap <= 0 {
		in.Overlap = DefaultReconcileOverlap
		if s.ReconcileOverlapSeconds > 0 {
			in.Overlap = time.Duration(s.ReconcileOverlapSeconds) * time.Second
		}
	}
	if in.PageSize <= 0 {
		in.PageSize = DefaultReconcilePage
	}
	if in.BudgetShare <= 0 || in.BudgetShare > 1 {
		in.BudgetShare = 0.2
	}
	return in
}

// ReconcileStep runs one step of the reconcile phase named in in.State and returns the new
// state: the step's counts added, the position advanced, and the phase moved on when it is
// finished. Each step stores its cross-run position (store.Cursors) before it returns, so a
// retried or later run resumes there; a retried step redoes at most one page, whose signals
// dedupe in ContactSync (their ids name the state seen).
func (r *Reconciler) ReconcileStep(ctx context.Context, in domain.ReconcileInput) (ReconcileStepResult, error) {
	if in.State == nil {
		return ReconcileStepResult{}, asTemporalError("reconcile", configErr("reconcile step without state"))
	}
	conn, err := r.connection(ctx, in.ConnectionID)
	if err != nil {
		return ReconcileStepResult{}, err
	}
	in = ReconcileKnobs(in, conn.Settings)
	st := *in.State
	st.Rotation = in.State.Rotation
	d := &drift{Reconciler: r, conn: conn, in: in, pace: newPacer(conn, in.BudgetShare)}
	var res domain.ReconcileResult
	var done bool
	switch st.Phase {
	case domain.ReconcileChanges:
		done, err = d.changes(ctx, &st, &res)
	case domain.ReconcileOpenTasks, domain.ReconcileSweep:
		done, err = d.rotate(ctx, st.Phase, &st.Rotation, &res)
	case domain.ReconcileDeletes:
		done = true
		res.DeletesSkipped, err = d.deletes(ctx, &res)
	default:
		return ReconcileStepResult{}, asTemporalError("reconcile", configErr("unknown reconcile phase %q", st.Phase))
	}
	if err != nil {
		return ReconcileStepResult{}, err
	}
	st.Result.Add(res)
	st.Result.DeletesSkipped = st.Result.DeletesSkipped || res.DeletesSkipped
	if done {
		st.Phase = nextPhase(st.Phase)
		st.SearchAfter, st.Rotation = nil, domain.Rotation{}
	}
	if r.Metrics != nil {
		r.Metrics.Signals.Add(float64(res.Signals))
	}
	return ReconcileStepResult{State: st, PhaseDone: done}, nil
}

func nextPhase(p string) string {
	order := []string{domain.ReconcileChanges, domain.ReconcileOpenTasks, domain.ReconcileSweep, domain.ReconcileDeletes, domain.ReconcileDone}
	if i := slices.Index(order, p); i >= 0 && i+1 < len(order) {
		return order[i+1]
	}
	return domain.ReconcileDone
}

// drift is one reconcile step's context.
type drift struct {
	*Reconciler
	conn *connector.Conn
	in   domain.ReconcileInput
	pace func(ctx context.Context) error
	// read re-reads one person of a rotation; nil means reread (tests replace it).
	read func(ctx context.Context, phase string, p person, res *domain.ReconcileResult) error
}

// newPacer spaces HighLevel calls to use at most share of the location's rate.
func newPacer(conn *connector.Conn, share float64) func(ctx context.Context) error {
	stats := conn.GHL.Budget().Stats()
	perSecond := float64(stats.Max) / stats.Interval.Seconds()
	if perSecond <= 0 {
		perSecond = 10
	}
	gap := time.Duration(float64(time.Second) / (perSecond * share))
	return func(ctx context.Context) error {
		activity.RecordHeartbeat(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(gap):
			return nil
		}
	}
}

func (d *drift) getCursor(ctx context.Context, name string, v any) (bool, error) {
	raw, err := d.Store.GetCursor(ctx, d.in.ConnectionID, name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, asTemporalError("read cursor", err)
	}
	if json.Unmarshal(raw, v) != nil {
		return false, nil // unreadable: start over, as when there is none
	}
	return true, nil
}

func (d *drift) putCursor(ctx context.Context, name string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return asTemporalError("encode cursor", err)
	}
	return asTemporalError("store cursor", d.Store.PutCursor(ctx, d.in.ConnectionID, name, raw))
}

func (d *drift) signal(ctx context.Context, linkID string, ev domain.Event, res *domain.ReconcileResult) error {
	if err := d.Signal.Signal(ctx, domain.Ref{ConnectionID: d.in.ConnectionID, LinkID: linkID}, ev); err != nil {
		return asTemporalError("signal", err)
	}
	res.Signals++
	return nil
}

// changes reads one page of the HighLevel contacts changed since the high-water mark
// (dateUpdated ≥ mark − overlap, up to the run's start + overlap), sorted by (dateUpdated, id),
// compares each with the ledger's HighLevel hashes and signals only real changes and
// contacts never linked. The mark advances to the page's last contact.
func (d *drift) changes(ctx context.Context, st *domain.ReconcileState, res *domain.ReconcileResult) (bool, error) {
	var mark changeMark
	hasMark, err := d.getCursor(ctx, cursorChanges, &mark)
	if err != nil {
		return false, err
	}
	// The upper bound keeps a run from chasing contacts edited while it reads; it admits
	// HighLevel stamps up to Overlap ahead of our clock (a later run reads the rest).
	rng := map[string]string{"lte": st.StartedAt.Add(d.in.Overlap).UTC().Format(time.RFC3339Nano)}
	if hasMark {
		rng["gte"] = mark.At.Add(-d.in.Overlap).UTC().Format(time.RFC3339Nano)
	}
	if err := d.pace(ctx); err != nil {
		return false, err
	}
	page, err := d.conn.GHL.SearchContacts(ctx, ghl.SearchParams{
		PageLimit:   d.in.PageSize,
		Filters:     []ghl.SearchFilter{{Field: "dateUpdated", Operator: "range", Value: rng}},
		Sort:        []ghl.SearchSort{{Field: "dateUpdated", Direction: "asc"}},
		SearchAfter: st.SearchAfter,
	})
	res.Calls++
	res.ListCalls++
	res.ChangePages++
	if err != nil {
		return false, asTemporalError("search changed HighLevel contacts", err)
	}
	fieldHashes, tagHashes, err := d.ghlHashes(ctx)
	if err != nil {
		return false, err
	}
	for _, c := range page.Contacts {
		res.ChangesRead++
		if err := d.compare(ctx, c, fieldHashes, tagHashes, res); err != nil {
			return false, err
		}
	}
	if n := len(page.Contacts); n > 0 {
		last := page.Contacts[n-1]
		next := changeMark{At: last.DateUpdated.UTC(), ID: last.ID}
		if !hasMark || next.At.After(mark.At) || (next.At.Equal(mark.At) && next.ID > mark.ID) {
			if err := d.putCursor(ctx, cursorChanges, next); err != nil {
				return false, err
			}
		}
	}
	st.SearchAfter = page.Next
	return page.Next == nil, nil
}

// compare signals a HighLevel contact whose field or tag projection differs from the
// ledger's, or that was never synced (a lost ContactCreate, or a first pass on its way).
func (d *drift) compare(ctx context.Context, c ghl.Contact, fieldHashes, tagHashes map[string]string, res *domain.ReconcileResult) error {
	kind, eventID, _ := ghlDrift(d.conn.Mapping, c, fieldHashes, tagHashes, true)
	if kind == "" {
		return nil
	}
	l, created, err := d.Store.EnsureLink(ctx, d.in.ConnectionID, store.SideGHL, c.ID)
	if err != nil {
		return asTemporalError("link HighLevel contact", err)
	}
	if l.Deleted {
		return nil
	}
	if created {
		res.New++
	}
	res.ChangesSignalled++
	return d.signal(ctx, l.ID, domain.Event{Source: domain.SourceReconcile, ID: eventID, Kind: kind, OccurredAt: d.now()}, res)
}

// ghlHashes are the ledger's HighLevel field and tag hashes by contact id.
func (d *drift) ghlHashes(ctx context.Context) (fields, tags map[string]string, err error) {
	if fields, err = d.Store.SideHashes(ctx, d.in.ConnectionID, store.SideGHL, ObjContact); err != nil {
		return nil, nil, asTemporalError("read ledger", err)
	}
	if tags, err = d.Store.SideHashes(ctx, d.in.ConnectionID, store.SideGHL, ObjTags); err != nil {
		return nil, nil, asTemporalError("read ledger", err)
	}
	return fields, tags, nil
}

// rotate re-reads one page of people, resuming from the phase's stored position and
// wrapping around at the end: for open-tasks the people whose last tasks projection had
// open tasks (their tasks), for sweep everyone linked on both sides (notes and tasks). A
// run re-reads its quota, sized so that everyone is re-read within the phase's bound: the
// people counted × Every / bound, and stops early when it comes round to where it began.
func (d *drift) rotate(ctx context.Context, phase string, rot *domain.Rotation, res *domain.ReconcileResult) (bool, error) {
	cursor, within := cursorOpenTasks, d.in.TasksWithin
	if phase == domain.ReconcileSweep {
		cursor, within = cursorSweep, d.in.SweepWithin
	}
	if !rot.Began {
		var mark rotationMark
		if _, err := d.getCursor(ctx, cursor, &mark); err != nil {
			return false, err
		}
		n, err := d.countRotation(ctx, phase)
		if err != nil {
			return false, err
		}
		*rot = domain.Rotation{Began: true, Start: mark.After, Pos: mark.After, Quota: rotationQuota(n, d.in.Every, within)}
	}
	if rot.Done >= rot.Quota {
		return true, nil
	}
	budget := min(d.in.PageSize, rot.Quota-rot.Done)
	read, finished, stopped := 0, false, false
	for read < budget && !finished && !stopped {
		people, err := d.rotationPage(ctx, phase, rot.Pos, 200)
		if err != nil {
			return false, err
		}
		if len(people) == 0 { // the end: start again from the beginning, once
			if rot.Wrapped {
				finished = true
				break
			}
			rot.Wrapped, rot.Pos = true, ""
			continue
		}
		for _, p := range people {
			if rot.Wrapped && p.link.ID > rot.Start {
				finished = true // round to where this run began: everyone once
				break
			}
			if read >= budget {
				break
			}
			fn := d.reread
			if d.read != nil {
				fn = d.read
			}
			if err := fn(ctx, phase, p, res); err != nil {
				if read == 0 {
					return false, err // nothing done: retried with backoff
				}
				// Keep the people read so far (their signals are sent): the next step
				// starts at this one, so a failing call costs one person's reads, not
				// the page's (at a few percent of calls failing, a page would rarely pass).
				d.log().Warn("reconcile: re-read stopped early", "phase", phase, "read", read, "error", err)
				stopped = true
				break
			}
			rot.Pos = p.link.ID
			read++
			rot.Done++
		}
	}
	if err := d.putCursor(ctx, cursor, rotationMark{After: rot.Pos}); err != nil {
		return false, err
	}
	return finished || rot.Done >= rot.Quota, nil
}

// rotationQuota is how many of n people one run re-reads so that all are re-read within
// `within` when a run starts every `every`.
func rotationQuota(n int, every, within time.Duration) int {
	if n <= 0 {
		return 0
	}
	if within <= every {
		return n
	}
	runs := int(within / every)
	return (n + runs - 1) / runs
}

// person is one person a rotation re-reads, with the ledger projections to compare with.
type person struct {
	link  store.Link
	tasks *ProjectionPlan // nil when the ledger has none
}

// rotationPage lists up to limit people of the rotation after the given link id.
func (d *drift) rotationPage(ctx context.Context, phase, after string, limit int) ([]person, error) {
	var out []person
	if phase == domain.ReconcileOpenTasks {
		for {
			entries, err := d.Store.LedgerEntries(ctx, d.in.ConnectionID, ObjTasks, after, limit)
			if err != nil {
				return nil, asTemporalError("read ledger", err)
			}
			for _, e := range entries {
				var pp ProjectionPlan
				if json.Unmarshal(e.Snapshot, &pp) != nil || len(pp.AddLabels) == 0 {
					continue // no open tasks last time: a new task comes with a TaskCreate webhook, or the sweep
				}
				l, err := d.Store.GetLink(ctx, d.in.ConnectionID, e.LinkID)
				if err != nil || l.GHLContactID == "" || l.RZContactID == "" || l.Deleted {
					continue
				}
				out = append(out, person{link: l, tasks: &pp})
			}
			if len(out) > 0 || len(entries) < limit {
				return out, nil
			}
			after = entries[len(entries)-1].LinkID
		}
	}
	for {
		links, err := d.Store.ListLinks(ctx, d.in.ConnectionID, after, limit)
		if err != nil {
			return nil, asTemporalError("list links", err)
		}
		for _, l := range links {
			if l.GHLContactID != "" && l.RZContactID != "" && !l.Deleted {
				out = append(out, person{link: l})
			}
		}
		if len(out) > 0 || len(links) < limit {
			return out, nil
		}
		after = links[len(links)-1].ID
	}
}

// countRotation counts the people a rotation covers (store reads only).
func (d *drift) countRotation(ctx context.Context, phase string) (int, error) {
	n, after := 0, ""
	for {
		var batch int
		var last string
		if phase == domain.ReconcileOpenTasks {
			entries, err := d.Store.LedgerEntries(ctx, d.in.ConnectionID, ObjTasks, after, 1000)
			if err != nil {
				return 0, asTemporalError("read ledger", err)
			}
			for _, e := range entries {
				var pp ProjectionPlan
				if json.Unmarshal(e.Snapshot, &pp) == nil && len(pp.AddLabels) > 0 {
					n++
				}
			}
			batch = len(entries)
			if batch > 0 {
				last = entries[batch-1].LinkID
			}
		} else {
			links, err := d.Store.ListLinks(ctx, d.in.ConnectionID, after, 1000)
			if err != nil {
				return 0, asTemporalError("list links", err)
			}
			for _, l := range links {
				if l.GHLContactID != "" && l.RZContactID != "" && !l.Deleted {
					n++
				}
			}
			batch = len(links)
			if batch > 0 {
				last = links[batch-1].ID
			}
		}
		if batch < 1000 {
			return n, nil
		}
		after = last
	}
}

// reread reads a person's tasks (and, in the sweep, notes) and signals the kinds whose
// rendered projection differs from the ledger's.
func (d *drift) reread(ctx context.Context, phase string, p person, res *domain.ReconcileResult) error {
	m := d.conn.Mapping
	changed := false
	if phase == domain.ReconcileSweep {
		res.Swept++
		if err := d.pace(ctx); err != nil {
			return err
		}
		notes, err := d.conn.GHL.ListNotes(ctx, p.link.GHLContactID)
		res.Calls++
		if errors.Is(err, ghl.ErrNotFound) {
			return nil // the delete listing deals with it
		}
		if err != nil {
			return asTemporalError("list HighLevel notes", err)
		}
		text := m.RenderNotesDigest(notesOf(notes))
		var base ProjectionPlan
		if _, _, err := d.loadBase(ctx, domain.Ref{ConnectionID: d.in.ConnectionID, LinkID: p.link.ID}, ObjNotes, &base); err != nil {
			return err
		}
		if text != base.Text {
			changed = true
			if err := d.signal(ctx, p.link.ID, domain.Event{Source: domain.SourceReconcile, ID: "reconcile:notes:" + p.link.ID + ":" + syncmodel.HashBytes([]byte(text)), Kind: domain.KindNotes, OccurredAt: d.now()}, res); err != nil {
				return err
			}
		}
		if signalled, err := d.appointments(ctx, p, res); err != nil {
			return err
		} else if signalled {
			changed = true
		}
		if p.tasks == nil {
			var pp ProjectionPlan
			if _, has, err := d.loadBase(ctx, domain.Ref{ConnectionID: d.in.ConnectionID, LinkID: p.link.ID}, ObjTasks, &pp); err != nil {
				return err
			} else if has {
				p.tasks = &pp
			}
		}
	} else {
		res.TasksChecked++
	}
	if err := d.pace(ctx); err != nil {
		return err
	}
	tasks, err := d.conn.GHL.ListTasks(ctx, p.link.GHLContactID)
	res.Calls++
	if errors.Is(err, ghl.ErrNotFound) {
		return nil
	}
	if err != nil {
		return asTemporalError("list HighLevel tasks", err)
	}
	text, labels := m.RenderTasksDigest(tasksOf(tasks), d.now())
	var was ProjectionPlan
	if p.tasks != nil {
		was = *p.tasks
	}
	if text != was.Text || !sameLabels(labels, was.AddLabels, m.StatusLabels()) {
		changed = true
		if phase == domain.ReconcileOpenTasks {
			res.TasksChanged++
		}
		if err := d.signal(ctx, p.link.ID, domain.Event{Source: domain.SourceReconcile, ID: "reconcile:tasks:" + p.link.ID + ":" + syncmodel.HashBytes([]byte(text+fmt.Sprint(labels))), Kind: domain.KindTasks, OccurredAt: d.now()}, res); err != nil {
			return err
		}
	}
	if changed && phase == domain.ReconcileSweep {
		res.SweepChanged++
	}
	return nil
}

// appointments stands in for lost Appointment* webhooks when the mapping has appointment
// rules: it reads the person's appointments and, when some were created or changed since
// the person was linked, signals an appointment event named by their state. The pass then
// evaluates the rules, whose actions are keyed per appointment, so an appointment already
// acted on acts no more; the same state signalled again is dropped as a seen event id.
func (d *drift) appointments(ctx context.Context, p person, res *domain.ReconcileResult) (bool, error) {
	if !hasAppointmentRules(d.conn.Mapping) {
		return false, nil
	}
	if err := d.pace(ctx); err != nil {
		return false, err
	}
	appts, err := d.conn.GHL.ListAppointments(ctx, p.link.GHLContactID)
	res.Calls++
	if errors.Is(err, ghl.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, asTemporalError("list HighLevel appointments", err)
	}
	recent := appointmentsSince(appts, p.link.CreatedAt)
	if len(recent) == 0 {
		return false, nil
	}
	slices.SortFunc(recent, func(a, b ghl.Appointment) int { return strings.Compare(a.ID, b.ID) })
	var state strings.Builder
	for _, ap := range recent {
		fmt.Fprintf(&state, "%s|%s|%s|%s\n", ap.ID, ap.Status, ap.AppointmentStatus, ap.DateUpdated.Time.UTC().Format(time.RFC3339Nano))
	}
	id := "reconcile:appointments:" + p.link.ID + ":" + syncmodel.HashBytes([]byte(state.String()))
	return true, d.signal(ctx, p.link.ID, domain.Event{Source: domain.SourceReconcile, ID: id, Kind: domain.KindAppointment, OccurredAt: d.now()}, res)
}

// sameLabels compares the status labels a render wants with those last added.
func sameLabels(want, had, status []string) bool {
	var w []string
	for _, l := range status {
		if slices.Contains(want, l) {
			w = append(w, l)
		}
	}
	h := slices.Clone(had)
	slices.Sort(w)
	slices.Sort(h)
	return slices.Equal(w, h)
}

// deletesProgress is the delete listing's heartbeat: a retried listing resumes after its
// last full page.
type deletesProgress struct {
	SearchAfter json.RawMessage        `json:"searchAfter,omitempty"`
	Seen        map[string]bool        `json:"seen,omitempty"`
	Result      domain.ReconcileResult `json:"result"`
}

// deletes lists every HighLevel contact, when the last complete listing is older than
// DeletesEvery, signals the linked contacts it no longer returns (confirmed by a GET), and
// signals those whose fields or tags differ from the ledger like the change read does.
// skipped says it was not due.
func (d *drift) deletes(ctx context.Context, res *domain.ReconcileResult) (skipped bool, err error) {
	var mark deletesMark
	has, err := d.getCursor(ctx, cursorDeletes, &mark)
	if err != nil {
		return false, err
	}
	if has && d.now().Sub(mark.At) < d.in.DeletesEvery {
		return true, nil
	}
	started := d.now()
	prog := deletesProgress{Seen: map[string]bool{}}
	if activity.HasHeartbeatDetails(ctx) {
		if activity.GetHeartbeatDetails(ctx, &prog) != nil || prog.Seen == nil {
			prog = deletesProgress{Seen: map[string]bool{}}
		}
	}
	linked, tagHashes, err := d.ghlHashes(ctx)
	if err != nil {
		return false, err
	}
	for {
		if err := d.pace(ctx); err != nil {
			return false, err
		}
		page, err := d.conn.GHL.SearchContacts(ctx, ghl.SearchParams{PageLimit: d.in.PageSize, SearchAfter: prog.SearchAfter})
		prog.Result.Calls++
		prog.Result.ListCalls++
		if err != nil {
			return false, asTemporalError("search HighLevel contacts", err)
		}
		for _, c := range page.Contacts {
			prog.Seen[c.ID] = true
			// The listing reads everyone anyway: it is the backstop for changes the change
			// read missed (a dateUpdated HighLevel did not bump, an index later than the
			// overlap), at no extra call.
			if err := d.compare(ctx, c, linked, tagHashes, &prog.Result); err != nil {
				return false, err
			}
		}
		prog.Result.ContactsListed += len(page.Contacts)
		if page.Next == nil {
			break
		}
		prog.SearchAfter = page.Next
		activity.RecordHeartbeat(ctx, prog)
	}
	res.Add(prog.Result)
	ids := make([]string, 0, len(linked))
	for id := range linked {
		if !prog.Seen[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := d.pace(ctx); err != nil {
			return false, err
		}
		_, err := d.conn.GHL.GetContact(ctx, id)
		res.Calls++
		if !errors.Is(err, ghl.ErrNotFound) {
			if err != nil {
				return false, asTemporalError("confirm HighLevel delete", err)
			}
			continue // created or moved while we listed
		}
		l, err := d.Store.LinkBy(ctx, d.in.ConnectionID, store.SideGHL, id)
		if err != nil || l.Deleted {
			continue
		}
		res.Deleted++
		if err := d.signal(ctx, l.ID, domain.Event{Source: domain.SourceReconcile, ID: "reconcile:deleted:" + id, Kind: domain.KindContactDeleted, OccurredAt: d.now()}, res); err != nil {
			return false, err
		}
	}
	return false, d.putCursor(ctx, cursorDeletes, deletesMark{At: started})
}
