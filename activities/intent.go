package activities

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// A write can land and its answer be lost (a 5xx after the commit, a dropped connection, a
// worker killed mid-call). Creates are the writes that must not be repeated blindly, so
// each one first records an intent in the ledger:
//
//   - a contact create records "creating:<side>" with the keys it creates the person
//     under; a retry that finds the intent looks the person up on that side before
//     creating again, and the create's echo (a webhook or poll that saw the new contact
//     before we could claim it) waits for us instead of absorbing our link;
//   - a rule action records "pending:<key>" with the values it must not change between
//     attempts (a visit's date, so a retry after midnight is refused as the same day's
//     check-in instead of becoming a second visit).
const (
	objCreatingPrefix = "creating:"
	objPendingPrefix  = "pending:"
)

// creatingFresh is how long a create intent makes the create's echo wait: longer than the
// apply activity's retries take to find the contact, short enough that a create that gave up
// does not park its echo for good.
const creatingFresh = 10 * time.Minute

// createIntent is what a contact create records before it writes.
type createIntent struct {
	Keys []string `json:"keys,omitempty"`
	// Done: the create ended (claimed, or refused for good); nothing is pending.
	Done bool `json:"done,omitempty"`
}

// recordCreate writes the create intent of link on side (refreshing its time).
func (d *Core) recordCreate(ctx context.Context, link store.Link, side store.Side, keys []string) error {
	raw, _ := json.Marshal(createIntent{Keys: keys})
	if err := d.Store.PutLedger(ctx, store.LedgerEntry{ConnectionID: link.ConnectionID, LinkID: link.ID, Object: objCreatingPrefix + string(side), Snapshot: raw}); err != nil {
		return asTemporalError("record create intent", err)
	}
	return nil
}

// endCreate marks the create intent of link on side as ended: the contact is claimed, or
// the create was refused for good, so its echo has nothing to wait for.
func (d *Core) endCreate(ctx context.Context, link store.Link, side store.Side) error {
	raw, _ := json.Marshal(createIntent{Done: true})
	if err := d.Store.PutLedger(ctx, store.LedgerEntry{ConnectionID: link.ConnectionID, LinkID: link.ID, Object: objCreatingPrefix + string(side), Snapshot: raw}); err != nil {
		return asTemporalError("end create intent", err)
	}
	return nil
}

// pendingCreate reads link's create intent on side; found is false when there is none or
// it ended.
func (d *Core) pendingCreate(ctx context.Context, connID, linkID string, side store.Side) (store.LedgerEntry, bool, error) {
	e, err := d.Store.GetLedger(ctx, connID, linkID, objCreatingPrefix+string(side))
	if errors.Is(err, store.ErrNotFound) {
		return e, false, nil
	}
	if err != nil {
		return e, false, asTemporalError("read create intent", err)
	}
	var in createIntent
	if json.Unmarshal(e.Snapshot, &in) == nil && in.Done {
		return e, false, nil
	}
	return e, true, nil
}

// creating reports whether link recorded, within creatingFresh, that it is creating its
// person on side.
func (d *Core) creating(ctx context.Context, connID, linkID string, side store.Side) (bool, error) {
	e, found, err := d.pendingCreate(ctx, connID, linkID, side)
	if err != nil || !found {
		return false, err
	}
	return d.now().Sub(e.UpdatedAt) < creatingFresh, nil
}

// earlier is what an earlier attempt's create left on a side.
type earlier struct {
	id string
	// ours: the contact carries the keys and names we created it with; otherwise someone
	// may have added the person meanwhile, and the pass must plan again (first sync).
	ours bool
	// ambiguous: several contacts could be it; the pass plans again and matching holds.
	ambiguous bool
}

// createdEarlier looks, when an earlier attempt recorded a create intent for link on side,
// for the contact that attempt made: a contact carrying the person's first key (e-mail,
// then phone) that no full link owns. Without an intent (the first attempt) it reads
// nothing from the API.
func (d *Core) createdEarlier(ctx context.Context, conn *connector.Conn, link store.Link, side store.Side, want syncmodel.Person) (earlier, error) {
	if _, found, err := d.pendingCreate(ctx, link.ConnectionID, link.ID, side); err != nil || !found {
		return earlier{}, err
	}
	keys := matchKeys(conn, want.Email, want.Phone)
	if len(keys) == 0 {
		return earlier{}, nil
	}
	type cand struct {
		id string
		p  *syncmodel.Person
	}
	var found []cand
	if side == store.SideGHL {
		cs, err := findGHLCandidates(ctx, conn, keys)
		if err != nil {
			return earlier{}, err
		}
		for i := range cs {
			found = append(found, cand{cs[i].ID, GHLPerson(conn.Mapping, &cs[i])})
		}
	} else {
		cs, err := findRZCandidates(ctx, conn, keys)
		if err != nil {
			return earlier{}, err
		}
		for i := range cs {
			found = append(found, cand{cs[i].ID, RZPerson(conn.Mapping, &cs[i])})
		}
	}
	// A contact a full link owns is another person's: not what we made.
	found = slices.DeleteFunc(found, func(c cand) bool {
		owner, err := d.Store.LinkBy(ctx, link.ConnectionID, side, c.id)
		return err == nil && owner.ID != link.ID && (owner.ContactID(side.Other()) != "" || owner.Deleted)
	})
	switch len(found) {
	case 0:
		return earlier{}, nil
	case 1:
		c := found[0]
		ours := c.p != nil && c.p.FirstName == want.FirstName && c.p.LastName == want.LastName && strings.EqualFold(c.p.Email, want.Email)
		return earlier{id: c.id, ours: ours}, nil
	}
	return earlier{ambiguous: true}, nil
}

// pendingAction is what a rule action records before it writes.
type pendingAction struct {
	VisitDate time.Time `json:"visitDate,omitzero"`
}

// pinAction fixes the values of action a that must be the same in every attempt: a visit
// "now" gets the date of its first attempt.
func (d *Core) pinAction(ctx context.Context, link store.Link, a *syncmodel.Action) error {
	if a.Type != syncmodel.ActionVisit || !a.VisitDate.IsZero() {
		return nil
	}
	var p pendingAction
	e, err := d.Store.GetLedger(ctx, link.ConnectionID, link.ID, objPendingPrefix+a.Key)
	switch {
	case err == nil && json.Unmarshal(e.Snapshot, &p) == nil && !p.VisitDate.IsZero():
		a.VisitDate = p.VisitDate
		return nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return asTemporalError("read pending action", err)
	}
	p.VisitDate = d.now().UTC().Truncate(time.Second)
	raw, _ := json.Marshal(p)
	if err := d.Store.PutLedger(ctx, store.LedgerEntry{ConnectionID: link.ConnectionID, LinkID: link.ID, Object: objPendingPrefix + a.Key, Snapshot: raw}); err != nil {
		return asTemporalError("record pending action", err)
	}
	a.VisitDate = p.VisitDate
	return nil
}

// contactRuleTasks returns the person's HighLevel tasks when a contact rule completes tasks
// (complete_ghl_task acts only on the open tasks the event lists); nil otherwise, without a
// call.
func contactRuleTasks(ctx context.Context, conn *connector.Conn, ghlID string) ([]syncmodel.Task, error) {
	if ghlID == "" || !slices.ContainsFunc(conn.Mapping.Rules(), func(r syncmodel.Rule) bool {
		return r.On == syncmodel.EventContact && slices.ContainsFunc(r.Actions, func(a syncmodel.ActionSpec) bool { return a.Type == syncmodel.ActionCompleteTask })
	}) {
		return nil, nil
	}
	tasks, err := conn.GHL.ListTasks(ctx, ghlID)
	if err != nil {
		return nil, asTemporalError("list HighLevel tasks for contact rules", err)
	}
	return tasksOf(tasks), nil
}
