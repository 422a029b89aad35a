package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/store"
)

// ObjHold is the ledger object of a person held back from being created on the side they
// lack: matching found several people who could be them (or one who is already someone
// else's partner). Only an operator's `starter link` settles it.
const ObjHold = "hold"

// Hold says why a one-sided person is not created on the other side.
type Hold struct {
	Reason string `json:"reason"`
	// Side is where the candidates are; Candidates their contact ids there.
	Side       string   `json:"side"`
	Candidates []string `json:"candidates"`
}

// Match is the existing contact that matching found for a person on the side they lack:
// the person is linked to it and merged as a first sync, never created again.
type Match struct {
	Side string `json:"side"`
	ID   string `json:"id"`
}

// partner is what matching found for a one-sided person.
type partner struct {
	match Match
	ghl   *ghl.Contact
	rz    *referrizer.Contact
	hold  *Hold
	// wait is the link whose pass is creating this person on our side right now.
	wait string
}

// oneSided reports whether the link has a contact on exactly one side.
func oneSided(l store.Link) bool { return (l.GHLContactID == "") != (l.RZContactID == "") }

// heldBy returns the link's hold, if it has one.
func (d *Core) heldBy(ctx context.Context, ref domain.Ref) (*Hold, error) {
	var h Hold
	_, found, err := d.loadBase(ctx, ref, ObjHold, &h)
	if err != nil || !found || h.Reason == "" {
		return nil, err
	}
	return &h, nil
}

// putHold records a hold on a link; it reports whether the link was not held before.
func (d *Core) putHold(ctx context.Context, connID, linkID string, h Hold) (bool, error) {
	prev, err := d.heldBy(ctx, domain.Ref{ConnectionID: connID, LinkID: linkID})
	if err != nil || prev != nil {
		return false, err
	}
	raw, _ := json.Marshal(h)
	if err := d.Store.PutLedger(ctx, store.LedgerEntry{ConnectionID: connID, LinkID: linkID, Object: ObjHold, Snapshot: raw, Hash: h.Reason}); err != nil {
		return false, asTemporalError("record hold", err)
	}
	return true, nil
}

// findPartner applies the matching rules to a person known on one side only, on the side
// they lack: e-mail first, then E.164 phone, exactly as the backfill matches. Exactly one
// candidate that no other person owns is the match; several candidates, or one that belongs
// to another person (or is held), is a hold: nobody is created or linked until an operator
// decides.
// A backfill pass skips the searches when the backfill's complete index shows nobody
// (indexRulesOut).
func (d *Core) findPartner(ctx context.Context, conn *connector.Conn, link store.Link, s sides, events []domain.Event, ttl time.Duration) (partner, error) {
	var email, phone string
	lack := store.SideRZ
	switch {
	case s.ghl != nil:
		email, phone = s.ghl.Email, s.ghl.Phone
	case s.rz != nil:
		email, phone, lack = s.rz.Email, s.rz.Phone, store.SideGHL
	default:
		return partner{}, nil
	}
	keys := matchKeys(conn, email, phone)
	if len(keys) == 0 {
		return partner{}, nil
	}
	// People on the person's own side sharing the key make the match ambiguous too (a
	// location that allows duplicates): the backfill's index knows them.
	if others, err := d.sharingKey(ctx, conn.ID, lack.Other(), keys, link.ContactID(lack.Other())); err != nil {
		return partner{}, err
	} else if len(others) > 0 {
		return partner{hold: &Hold{Reason: fmt.Sprintf("%d other %s contacts share this person's e-mail or phone", len(others), sideName(lack.Other())),
			Side: string(lack.Other()), Candidates: others}}, nil
	}
	if d.indexRulesOut(ctx, ttl, conn.ID, lack, keys, events) {
		return partner{}, nil
	}
	p, candidates, err := candidatesOn(ctx, conn, lack, keys)
	if err != nil {
		return p, err
	}
	switch len(candidates) {
	case 0:
		return p, nil
	case 1:
	default:
		slices.Sort(candidates)
		p.hold = &Hold{Reason: fmt.Sprintf("%d %s contacts could be this person", len(candidates), sideName(lack)), Side: string(lack), Candidates: candidates}
		return p, nil
	}
	return d.claimable(ctx, conn, lack, candidates, p)
}

// candidatesOn finds the contacts on side lack matching keys; with exactly one, p holds it.
func candidatesOn(ctx context.Context, conn *connector.Conn, lack store.Side, keys []string) (p partner, candidates []string, err error) {
	if lack == store.SideGHL {
		found, err := findGHLCandidates(ctx, conn, keys)
		if err != nil {
			return p, nil, err
		}
		for i := range found {
			candidates = append(candidates, found[i].ID)
		}
		if len(found) == 1 {
			p.ghl = &found[0]
		}
		return p, candidates, nil
	}
	found, err := findRZCandidates(ctx, conn, keys)
	if err != nil {
		return p, nil, err
	}
	for i := range found {
		candidates = append(candidates, found[i].ID)
	}
	if len(found) == 1 {
		p.rz = &found[0]
	}
	return p, candidates, nil
}

// claimable decides on the one candidate found: the match, unless another person owns it
// or it is held (a hold), or its person is being created on our side right now (a wait).
func (d *Core) claimable(ctx context.Context, conn *connector.Conn, lack store.Side, candidates []string, p partner) (partner, error) {
	owner, err := d.Store.LinkBy(ctx, conn.ID, lack, candidates[0])
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return p, asTemporalError("look up the match's link", err)
	case owner.ContactID(lack.Other()) != "" || owner.Deleted:
		p.hold = &Hold{Reason: fmt.Sprintf("the matching %s contact already belongs to another person", sideName(lack)), Side: string(lack), Candidates: candidates}
		return p, nil
	default:
		if h, err := d.heldBy(ctx, domain.Ref{ConnectionID: conn.ID, LinkID: owner.ID}); err != nil {
			return p, err
		} else if h != nil {
			p.hold = &Hold{Reason: fmt.Sprintf("the matching %s contact is itself held as ambiguous", sideName(lack)), Side: string(lack), Candidates: candidates}
			return p, nil
		}
		// The match's person is being created on our side: this contact is most likely that
		// create's echo, seen before the create's answer (or a retry) claimed it. The create
		// absorbs this link; taking theirs instead would drop their pass's rule actions.
		if busy, err := d.creating(ctx, conn.ID, owner.ID, lack.Other()); err != nil {
			return p, err
		} else if busy {
			p.wait = owner.ID
			return p, nil
		}
	}
	p.match = Match{Side: string(lack), ID: candidates[0]}
	return p, nil
}

// findGHLCandidates lists the HighLevel contacts carrying the first key kind (e-mail, then
// phone) that any carries. A search, not GET /contacts/search/duplicate: that names one
// contact where a location allowing duplicates may hold several, and several is ambiguous.
func findGHLCandidates(ctx context.Context, conn *connector.Conn, keys []string) ([]ghl.Contact, error) {
	return firstKeyMatches(conn, keys, func(field, value string) ([]ghl.Contact, error) {
		page, err := conn.GHL.SearchContacts(ctx, ghl.SearchParams{PageLimit: 10, Filters: []ghl.SearchFilter{{Field: field, Operator: "eq", Value: value}}})
		return page.Contacts, asTemporalError("find HighLevel contact", err)
	}, func(c ghl.Contact) (string, string) { return c.Email, c.Phone })
}

// findRZCandidates lists the Referrizer contacts carrying the first key kind (e-mail, then
// phone) that any carries.
func findRZCandidates(ctx context.Context, conn *connector.Conn, keys []string) ([]referrizer.Contact, error) {
	return firstKeyMatches(conn, keys, func(field, value string) ([]referrizer.Contact, error) {
		opts := referrizer.ListOptions{PerPage: 10}
		if field == "email" {
			opts.Email = value
		} else {
			opts.Phone = value
		}
		page, err := conn.RZ.ListContacts(ctx, opts)
		return page.Contacts, asTemporalError("find Referrizer contact", err)
	}, func(c referrizer.Contact) (string, string) { return c.Email, c.Phone })
}

// firstKeyMatches looks each key up in order ("email:…" before "phone:…") with find and
// returns the contacts of the first key that any carries exactly: a side's own filter may
// match more loosely (Referrizer's semantics are unknown, referrizer-api.md).
func firstKeyMatches[C any](conn *connector.Conn, keys []string, find func(field, value string) ([]C, error), emailPhone func(C) (string, string)) ([]C, error) {
	for _, k := range keys {
		field, value, ok := strings.Cut(k, ":")
		if !ok {
			continue
		}
		found, err := find(field, value)
		if err != nil {
			return nil, err
		}
		out := slices.DeleteFunc(found, func(c C) bool {
			email, phone := emailPhone(c)
			return !slices.Contains(matchKeys(conn, email, phone), k)
		})
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, nil
}

// sharingKey returns the contacts on side (other than except) that the match index holds
// under the first of keys that any carries.
func (d *Core) sharingKey(ctx context.Context, connID string, side store.Side, keys []string, except string) ([]string, error) {
	idx, err := d.Store.MatchContacts(ctx, connID, side, keys)
	if err != nil {
		return nil, asTemporalError("read match index", err)
	}
	for _, k := range keys {
		var ids []string
		for _, id := range idx[k] {
			if id != except && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		if len(idx[k]) > 0 {
			slices.Sort(ids)
			return ids, nil
		}
	}
	return nil, nil
}

func sideName(s store.Side) string {
	if s == store.SideGHL {
		return "HighLevel"
	}
	return "Referrizer"
}
