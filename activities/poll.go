package activities

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"
	"golang.org/x/sync/errgroup"

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
func (p *Poller) PollReferrizer(ctx context.Context, in PollInput) (PollResult, error) {
	start := p.now()
	conn, err := p.connection(ctx, in.ConnectionID)
	if err != nil {
		return PollResult{}, err
	}
	fieldHashes, err := p.Store.SideHashes(ctx, in.ConnectionID, store.SideRZ, ObjContact)
	if err != nil {
		return PollResult{}, classify("read ledger", err)
	}
	tagHashes, err := p.Store.SideHashes(ctx, in.ConnectionID, store.SideRZ, ObjTags)
	if err != nil {
		return PollResult{}, classify("read ledger", err)
	}
	prog := pollProgress{NextPage: 1, Seen: map[string]bool{}}
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &prog); err != nil || prog.NextPage < 1 {
			prog = pollProgress{NextPage: 1, Seen: map[string]bool{}}
		}
		if prog.Seen == nil {
			prog.Seen = map[string]bool{}
		}
	}
	calls0 := conn.RZ.Calls()
	for {
		page, err := conn.RZ.ListContacts(ctx, referrizer.ListOptions{Page: prog.NextPage, PerPage: in.PageSize})
		if err != nil {
			return prog.Result, classify("list Referrizer contacts", err)
		}
		prog.Result.Pages++
		var changed []Ref
		var events []Event
		var obs []store.Observation
		for _, c := range page.Contacts {
			if prog.Seen[c.ID] {
				continue // shifted onto this page by a delete meanwhile
			}
			prog.Seen[c.ID] = true
			prog.Result.Seen++
			fh, th := rzHashes(conn.Mapping, c)
			oldF, linked := fieldHashes[c.ID]
			oldT := tagHashes[c.ID]
			var kind string
			switch {
			case !linked:
				l, err := p.Store.LinkBy(ctx, in.ConnectionID, store.SideRZ, c.ID)
				if err == nil && l.GHLContactID != "" {
					kind = KindAll // linked but never synced (a pass is on its way): make sure
				} else {
					kind = KindAll
					prog.Result.New++
				}
			case oldF != fh && oldT != th:
				kind = KindAll
			case oldF != fh:
				kind = KindContact
			case oldT != th:
				kind = KindTags
			default:
				continue
			}
			l, _, err := p.Store.EnsureLink(ctx, in.ConnectionID, store.SideRZ, c.ID)
			if err != nil {
				return prog.Result, classify("link Referrizer contact", err)
			}
			if linked {
				prog.Result.Changed++
			}
			raw, err := json.Marshal(c)
			if err != nil {
				return prog.Result, classify("encode contact", err)
			}
			obs = append(obs, store.Observation{ContactID: c.ID, Body: raw, ObservedAt: p.now()})
			changed = append(changed, Ref{ConnectionID: in.ConnectionID, LinkID: l.ID})
			// The id names the state seen, so two polls seeing the same change signal once.
			events = append(events, Event{Source: SourceRZ, ID: "rzpoll:" + c.ID + ":" + fh + th, Kind: kind, OccurredAt: p.now()})
		}
		if err := p.Store.PutObservations(ctx, in.ConnectionID, store.SideRZ, obs); err != nil {
			return prog.Result, classify("record Referrizer page", err)
		}
		if err := p.signalAll(ctx, changed, events); err != nil {
			return prog.Result, err
		}
		prog.Result.Signals += len(changed)
		if !page.HasNext() {
			break
		}
		prog.NextPage++
		activity.RecordHeartbeat(ctx, prog)
	}
	// Linked contacts the full listing did not return are deleted, or moved between pages
	// while we listed: a GET tells which.
	for id := range fieldHashes {
		if prog.Seen[id] {
			continue
		}
		if _, err := conn.RZ.GetContact(ctx, id); !errors.Is(err, referrizer.ErrNotFound) {
			if err != nil {
				return prog.Result, classify("confirm Referrizer delete", err)
			}
			continue
		}
		l, err := p.Store.LinkBy(ctx, in.ConnectionID, store.SideRZ, id)
		if err != nil || l.Deleted {
			continue
		}
		prog.Result.Missing++
		if err := p.Signal.Signal(ctx, Ref{ConnectionID: in.ConnectionID, LinkID: l.ID},
			Event{Source: SourceRZ, ID: "rzpoll:deleted:" + id, Kind: KindContactDeleted, OccurredAt: p.now()}); err != nil {
			return prog.Result, classify("signal delete", err)
		}
		prog.Result.Signals++
	}
	prog.Result.Calls = int(conn.RZ.Calls() - calls0)
	prog.Result.Duration = time.Since(start)
	if p.Metrics != nil {
		p.Metrics.Signals.Add(float64(prog.Result.Signals))
	}
	return prog.Result, nil
}

func (d *Poller) signalAll(ctx context.Context, refs []Ref, events []Event) error {
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
		return classify("signal", err)
	}
	return nil
}
