package activities

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// ReconcileConnection re-reads the tasks of people whose last tasks projection had open
// tasks (HighLevel has no TaskUpdate event: title, body and due-date edits are only seen by
// reading), and lists HighLevel contacts to find deletes webhooks missed. It paces itself
// to use at most BudgetShare of the location's HighLevel rate.
func (r *Reconciler) ReconcileConnection(ctx context.Context, in domain.ReconcileInput) (domain.ReconcileResult, error) {
	conn, err := r.connection(ctx, in.ConnectionID)
	if err != nil {
		return domain.ReconcileResult{}, err
	}
	pace := budgetPacer(ctx, conn, in.BudgetShare)
	calls0 := conn.GHL.Calls()
	var out domain.ReconcileResult
	if err := r.recheckOpenTasks(ctx, in, conn, pace, &out); err != nil {
		return out, err
	}
	if err := r.sweepGHLContacts(ctx, in, conn, pace, &out); err != nil {
		return out, err
	}
	out.Calls = int(conn.GHL.Calls() - calls0)
	return out, nil
}

// budgetPacer returns a wait between HighLevel calls that keeps them to share of the
// location's rate, heartbeating as it waits.
func budgetPacer(ctx context.Context, conn *connector.Conn, share float64) func() error {
	stats := conn.GHL.Budget().Stats()
	perSecond := float64(stats.Max) / stats.Interval.Seconds()
	if perSecond <= 0 {
		perSecond = 10
	}
	gap := time.Duration(float64(time.Second) / (perSecond * share))
	return func() error {
		activity.RecordHeartbeat(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(gap):
			return nil
		}
	}
}

// recheckOpenTasks is the first pass: it re-reads the tasks of people whose last tasks
// projection had open tasks, and signals those whose digest changed.
func (r *Reconciler) recheckOpenTasks(ctx context.Context, in domain.ReconcileInput, conn *connector.Conn, pace func() error, out *domain.ReconcileResult) error {
	after := ""
	for {
		entries, err := r.Store.LedgerEntries(ctx, in.ConnectionID, ObjTasks, after, 200)
		if err != nil {
			return asTemporalError("read ledger", err)
		}
		if len(entries) == 0 {
			return nil
		}
		after = entries[len(entries)-1].LinkID
		for _, e := range entries {
			if err := r.recheckTasks(ctx, in, conn, e, pace, out); err != nil {
				return err
			}
		}
	}
}

// recheckTasks re-reads one person's tasks when their last projection had open ones.
func (r *Reconciler) recheckTasks(ctx context.Context, in domain.ReconcileInput, conn *connector.Conn, e store.LedgerEntry, pace func() error, out *domain.ReconcileResult) error {
	var pp ProjectionPlan
	if json.Unmarshal(e.Snapshot, &pp) != nil || len(pp.AddLabels) == 0 {
		return nil // no open tasks last time: a new task comes with a TaskCreate webhook
	}
	if out.TasksChecked >= in.MaxPeople {
		out.Deferred++
		return nil
	}
	link, err := r.Store.GetLink(ctx, in.ConnectionID, e.LinkID)
	if err != nil || link.GHLContactID == "" || link.Deleted {
		return nil
	}
	if err := pace(); err != nil {
		return err
	}
	tasks, err := conn.GHL.ListTasks(ctx, link.GHLContactID)
	if errors.Is(err, ghl.ErrNotFound) {
		return nil // the delete pass deals with it
	}
	if err != nil {
		return asTemporalError("list HighLevel tasks", err)
	}
	out.TasksChecked++
	text, _ := conn.Mapping.RenderTasksDigest(tasksOf(tasks), r.now())
	if text == pp.Text {
		return nil
	}
	out.TasksChanged++
	if err := r.Signal.Signal(ctx, domain.Ref{ConnectionID: in.ConnectionID, LinkID: link.ID},
		domain.Event{Source: domain.SourceReconcile, ID: "reconcile:tasks:" + syncmodel.HashBytes([]byte(text)), Kind: domain.KindTasks, OccurredAt: r.now()}); err != nil {
		return asTemporalError("signal", err)
	}
	out.Signals++
	return nil
}

// sweepGHLContacts is the second pass, for HighLevel deletes: linked contacts a full
// listing no longer returns, confirmed by a GET. The same listing repairs lost webhooks
// (HighLevel gives up on a delivery after its retries): a contact whose fields or tags
// differ from what the ledger last recorded for its side, or that no link knows, is
// signalled as a webhook would have.
func (r *Reconciler) sweepGHLContacts(ctx context.Context, in domain.ReconcileInput, conn *connector.Conn, pace func() error, out *domain.ReconcileResult) error {
	linked, err := r.Store.SideHashes(ctx, in.ConnectionID, store.SideGHL, ObjContact)
	if err != nil {
		return asTemporalError("read ledger", err)
	}
	tagHashes, err := r.Store.SideHashes(ctx, in.ConnectionID, store.SideGHL, ObjTags)
	if err != nil {
		return asTemporalError("read ledger", err)
	}
	seen := map[string]bool{}
	var cursor json.RawMessage
	for {
		if err := pace(); err != nil {
			return err
		}
		page, err := conn.GHL.SearchContacts(ctx, ghl.SearchParams{PageLimit: 100, SearchAfter: cursor})
		if err != nil {
			return asTemporalError("search HighLevel contacts", err)
		}
		for _, c := range page.Contacts {
			seen[c.ID] = true
			if err := r.repair(ctx, conn.Mapping, in.ConnectionID, c, linked, tagHashes, out); err != nil {
				return err
			}
		}
		out.ContactsListed += len(page.Contacts)
		if page.Next == nil {
			break
		}
		cursor = page.Next
	}
	return r.confirmDeletes(ctx, in, conn, linked, seen, pace, out)
}

// confirmDeletes signals the linked contacts the listing did not return and a GET confirms gone.
func (r *Reconciler) confirmDeletes(ctx context.Context, in domain.ReconcileInput, conn *connector.Conn, linked map[string]string, seen map[string]bool, pace func() error, out *domain.ReconcileResult) error {
	for id := range linked {
		if seen[id] {
			continue
		}
		if err := pace(); err != nil {
			return err
		}
		if _, err := conn.GHL.GetContact(ctx, id); !errors.Is(err, ghl.ErrNotFound) {
			if err != nil {
				return asTemporalError("confirm HighLevel delete", err)
			}
			continue
		}
		link, err := r.Store.LinkBy(ctx, in.ConnectionID, store.SideGHL, id)
		if err != nil || link.Deleted {
			continue
		}
		out.Deleted++
		if err := r.Signal.Signal(ctx, domain.Ref{ConnectionID: in.ConnectionID, LinkID: link.ID},
			domain.Event{Source: domain.SourceReconcile, ID: "reconcile:deleted:" + id, Kind: domain.KindContactDeleted, OccurredAt: r.now()}); err != nil {
			return asTemporalError("signal", err)
		}
		out.Signals++
	}
	return nil
}

// repair signals a listed HighLevel contact whose fields or tags differ from the ledger's
// record of its side (a lost ContactUpdate or ContactTagUpdate), or that no link knows (a
// lost ContactCreate). The event id names the state seen, so reconciles seeing the same
// state signal once, and a webhook still in flight makes at most one extra pass.
func (r *Reconciler) repair(ctx context.Context, m *syncmodel.Mapping, connID string, c ghl.Contact, fieldHashes, tagHashes map[string]string, out *domain.ReconcileResult) error {
	kind, eventID, known := ghlDrift(m, c, fieldHashes, tagHashes, false)
	if kind == "" {
		return nil
	}
	if !known {
		_, err := r.Store.LinkBy(ctx, connID, store.SideGHL, c.ID)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return nil // linked (its pass records the base) or the store failed: next time
		}
	}
	l, _, err := r.Store.EnsureLink(ctx, connID, store.SideGHL, c.ID)
	if err != nil {
		return asTemporalError("link HighLevel contact", err)
	}
	if l.Deleted {
		return nil
	}
	out.Repaired++
	if err := r.Signal.Signal(ctx, domain.Ref{ConnectionID: connID, LinkID: l.ID},
		domain.Event{Source: domain.SourceReconcile, ID: eventID, Kind: kind, OccurredAt: r.now()}); err != nil {
		return asTemporalError("signal", err)
	}
	out.Signals++
	return nil
}
