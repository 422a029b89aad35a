package activities

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"
	"golang.org/x/sync/errgroup"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/store"
)

// pollProgress is the poll's heartbeat: a retried poll resumes after the last full page.
type pollProgress struct {
	NextPage int             `json:"nextPage"`
	Seen     map[string]bool `json:"seen,omitempty"` // ids listed so far, for delete detection
	Result   PollResult      `json:"result"`
}

// PollReferrizer pages every Referrizer contact of a connection, compares each one's
// projection hashes with the ledger, and signals only people whose fields or labels
// changed, who are new, or who went missing (confirmed deleted). Unchanged people cost
// nothing beyond their share of a list call.
func (p *Poller) PollReferrizer(ctx context.Context, in domain.PollInput) (PollResult, error) {
	start := p.now()
	conn, err := p.connection(ctx, in.ConnectionID)
	if err != nil {
		return PollResult{}, err
	}
	var known rzLedger
	if known.fields, err = p.Store.SideHashes(ctx, in.ConnectionID, store.SideRZ, ObjContact); err != nil {
		return PollResult{}, asTemporalError("read ledger", err)
	}
	if known.tags, err = p.Store.SideHashes(ctx, in.ConnectionID, store.SideRZ, ObjTags); err != nil {
		return PollResult{}, asTemporalError("read ledger", err)
	}
	prog := resumePoll(ctx)
	calls0 := conn.RZ.Calls()
	for {
		hasNext, err := p.pollPage(ctx, in, conn, known, &prog)
		if err != nil {
			return prog.Result, err
		}
		if !hasNext {
			break
		}
		prog.NextPage++
		activity.RecordHeartbeat(ctx, prog)
	}
	if err := p.confirmRZDeletes(ctx, in, conn, known.fields, &prog); err != nil {
		return prog.Result, err
	}
	prog.Result.Calls = int(conn.RZ.Calls() - calls0)
	prog.Result.Duration = time.Since(start)
	if p.Metrics != nil {
		p.Metrics.Signals.Add(float64(prog.Result.Signals))
	}
	return prog.Result, nil
}

// rzLedger is what the ledger last recorded of each linked Referrizer contact.
type rzLedger struct{ fields, tags map[string]string }

// resumePoll returns the progress a previous attempt heartbeated, or a fresh start.
func resumePoll(ctx context.Context) pollProgress {
	prog := pollProgress{NextPage: 1, Seen: map[string]bool{}}
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &prog); err != nil || prog.NextPage < 1 {
			prog = pollProgress{NextPage: 1, Seen: map[string]bool{}}
		}
		if prog.Seen == nil {
			prog.Seen = map[string]bool{}
		}
	}
	return prog
}

// pollPage reads page prog.NextPage, records the changed contacts as observations and
// signals their people; it reports whether another page follows.
func (p *Poller) pollPage(ctx context.Context, in domain.PollInput, conn *connector.Conn, known rzLedger, prog *pollProgress) (bool, error) {
	page, err := conn.RZ.ListContacts(ctx, referrizer.ListOptions{Page: prog.NextPage, PerPage: in.PageSize})
	if err != nil {
		return false, asTemporalError("list Referrizer contacts", err)
	}
	prog.Result.Pages++
	var changed []domain.Ref
	var events []domain.Event
	var obs []store.Observation
	for _, c := range page.Contacts {
		if prog.Seen[c.ID] {
			continue // shifted onto this page by a delete meanwhile
		}
		prog.Seen[c.ID] = true
		prog.Result.Seen++
		ref, ev, ok, err := p.pollContact(ctx, in, conn, known, c, &prog.Result)
		if err != nil {
			return false, err
		}
		if !ok {
			continue
		}
		raw, err := json.Marshal(c)
		if err != nil {
			return false, asTemporalError("encode contact", err)
		}
		obs = append(obs, store.Observation{ContactID: c.ID, Body: raw, ObservedAt: p.now()})
		changed, events = append(changed, ref), append(events, ev)
	}
	if err := p.Store.PutObservations(ctx, in.ConnectionID, store.SideRZ, obs); err != nil {
		return false, asTemporalError("record Referrizer page", err)
	}
	if err := p.signalAll(ctx, changed, events); err != nil {
		return false, err
	}
	prog.Result.Signals += len(changed)
	return page.HasNext(), nil
}

// pollContact compares a listed contact with the ledger; ok says it is new or changed, and
// then ref is its (ensured) link and ev the event to signal.
func (p *Poller) pollContact(ctx context.Context, in domain.PollInput, conn *connector.Conn, known rzLedger, c referrizer.Contact, res *PollResult) (ref domain.Ref, ev domain.Event, ok bool, err error) {
	fh, th := rzHashes(conn.Mapping, c)
	oldF, linked := known.fields[c.ID]
	oldT := known.tags[c.ID]
	var kind string
	switch {
	case !linked:
		l, err := p.Store.LinkBy(ctx, in.ConnectionID, store.SideRZ, c.ID)
		if err == nil && l.GHLContactID != "" {
			kind = domain.KindAll // linked but never synced (a pass is on its way): make sure
		} else {
			kind = domain.KindAll
			res.New++
		}
	case oldF != fh && oldT != th:
		kind = domain.KindAll
	case oldF != fh:
		kind = domain.KindContact
	case oldT != th:
		kind = domain.KindTags
	default:
		return domain.Ref{}, domain.Event{}, false, nil
	}
	l, _, err := p.Store.EnsureLink(ctx, in.ConnectionID, store.SideRZ, c.ID)
	if err != nil {
		return domain.Ref{}, domain.Event{}, false, asTemporalError("link Referrizer contact", err)
	}
	if linked {
		res.Changed++
	}
	// The id names the state seen, so two polls seeing the same change signal once.
	ev = domain.Event{Source: domain.SourceRZ, ID: "rzpoll:" + c.ID + ":" + fh + th, Kind: kind, OccurredAt: p.now()}
	return domain.Ref{ConnectionID: in.ConnectionID, LinkID: l.ID}, ev, true, nil
}

// confirmRZDeletes signals linked contacts the full listing did not return: they are
// deleted, or moved between pages while we listed, and a GET tells which.
func (p *Poller) confirmRZDeletes(ctx context.Context, in domain.PollInput, conn *connector.Conn, linked map[string]string, prog *pollProgress) error {
	for id := range linked {
		if prog.Seen[id] {
			continue
		}
		if _, err := conn.RZ.GetContact(ctx, id); !errors.Is(err, referrizer.ErrNotFound) {
			if err != nil {
				return asTemporalError("confirm Referrizer delete", err)
			}
			continue
		}
		l, err := p.Store.LinkBy(ctx, in.ConnectionID, store.SideRZ, id)
		if err != nil || l.Deleted {
			continue
		}
		prog.Result.Missing++
		if err := p.Signal.Signal(ctx, domain.Ref{ConnectionID: in.ConnectionID, LinkID: l.ID},
			domain.Event{Source: domain.SourceRZ, ID: "rzpoll:deleted:" + id, Kind: domain.KindContactDeleted, OccurredAt: p.now()}); err != nil {
			return asTemporalError("signal delete", err)
		}
		prog.Result.Signals++
	}
	return nil
}

func (d *Poller) signalAll(ctx context.Context, refs []domain.Ref, events []domain.Event) error {
	g, gctx := errgroup.WithContext(ctx)
	n := d.SignalConcurrency
	if n <= 0 {
		n = 8
	}
	g.SetLimit(n)
	for i := range refs {
		g.Go(func() error { return d.Signal.Signal(gctx, refs[i], events[i]) })
	}
	if err := g.Wait(); err != nil {
		return asTemporalError("signal", err)
	}
	return nil
}
