package activities

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/store"
)

// The backfill's match index covers a side completely once that side's contact phase has
// read its last page. Two observation records per side say so (as the task scan's do):
//   - matchIndexStartKey: when the side's first contact page was read;
//   - matchIndexKey: the phase read its last page; its time is the start's, since a contact
//     added after the first page was read may sort onto a page already read.
//
// A backfill pass for a person on one side only then takes "nobody on the other side
// carries this person's e-mail or phone" from the index instead of searching that side
// again (two searches per person: findPartner). It never takes a match from it: when the
// index names anyone, the pass searches as before, so stale keys cost a search, never a
// wrong hold or link.
const (
	matchIndexStartKey = "match-index-start"
	matchIndexKey      = "match-index"
)

// matchIndexMark is the body of both records.
type matchIndexMark struct {
	Started time.Time `json:"started"`
}

// startMatchIndex records that a side's contact phase read its first page at at.
func (b *Backfill) startMatchIndex(ctx context.Context, connID string, side store.Side, at time.Time) error {
	raw, _ := json.Marshal(matchIndexMark{Started: at})
	if err := b.Store.PutObservations(ctx, connID, side, []store.Observation{{ContactID: matchIndexStartKey, Body: raw, ObservedAt: at}}); err != nil {
		return asTemporalError("record match index start", err)
	}
	return nil
}

// completeMatchIndex records, after a side's last contact page, that the index covers the
// side as of the phase's start. Without a start record (a backfill begun by an older
// worker) nothing is recorded and passes search as before.
func (b *Backfill) completeMatchIndex(ctx context.Context, connID string, side store.Side) error {
	var mark matchIndexMark
	o, err := b.Store.GetObservation(ctx, connID, side, matchIndexStartKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return asTemporalError("read match index start", err)
	}
	if err := json.Unmarshal(o.Body, &mark); err != nil || mark.Started.IsZero() {
		return nil
	}
	if err := b.Store.PutObservations(ctx, connID, side, []store.Observation{{ContactID: matchIndexKey, Body: o.Body, ObservedAt: mark.Started}}); err != nil {
		return asTemporalError("record match index complete", err)
	}
	return nil
}

// indexRulesOut reports that the backfill's index shows nobody on side lack carrying any of
// keys, and that the pass may rely on it: every event came from the backfill, and the index
// covers lack completely as of a read within the observation age bound (ttl). Any error
// means "search", never "nobody".
func (d *Core) indexRulesOut(ctx context.Context, ttl time.Duration, connID string, lack store.Side, keys []string, events []domain.Event) bool {
	if len(events) == 0 || len(keys) == 0 {
		return false
	}
	for _, e := range events {
		if e.Source != domain.SourceBackfill {
			return false
		}
	}
	if _, ok := d.freshObservation(ctx, ttl, connID, lack, matchIndexKey, time.Time{}); !ok {
		return false
	}
	idx, err := d.Store.MatchContacts(ctx, connID, lack, keys)
	if err != nil {
		return false
	}
	for _, k := range keys {
		if len(idx[k]) > 0 {
			return false
		}
	}
	return true
}
