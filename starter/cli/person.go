package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// resolvePerson finds the link a person argument names: a link id, a HighLevel contact id,
// a Referrizer contact id, or an e-mail address. With an e-mail, the store's match keys
// (written by backfills and polls) are tried first, then each side's API is searched with a
// read. When link is true and the person exists on a side but has no link yet, one is made
// (as the bridge would on their first webhook), so `sync` works for a brand-new person.
func (a *app) resolvePerson(ctx context.Context, conn store.Connection, q string, link bool) (store.Link, error) {
	st, err := a.store()
	if err != nil {
		return store.Link{}, err
	}
	q = strings.TrimSpace(q)
	if q == "" {
		return store.Link{}, usageErr("the person argument is empty")
	}
	if !strings.Contains(q, "@") {
		return personByID(ctx, st, conn, q)
	}

	email := syncmodel.EmailKey(q)
	if email == "" {
		return store.Link{}, usageErr("%q is not an e-mail address", q)
	}
	matched, ids, err := a.linksByEmail(ctx, st, conn, email)
	if err != nil {
		return store.Link{}, err
	}
	switch len(matched) {
	case 1:
		for _, l := range matched {
			return l, nil
		}
	case 0:
	default:
		return store.Link{}, ambiguous(q, matched)
	}
	return linkUnlinked(ctx, st, conn, q, ids, link)
}

// personByID finds the person named by a link id or a linked contact id on either side.
func personByID(ctx context.Context, st store.Store, conn store.Connection, q string) (store.Link, error) {
	if l, err := st.GetLink(ctx, conn.ID, q); err == nil {
		return l, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return l, fmt.Errorf("read link %s: %w", q, err)
	}
	for _, side := range []store.Side{store.SideGHL, store.SideRZ} {
		l, err := st.LinkBy(ctx, conn.ID, side, q)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return l, fmt.Errorf("look up %s contact %s: %w", side, q, err)
		}
	}
	return store.Link{}, notFoundErr("no person %q in connection %s: not a link id, a linked HighLevel or Referrizer contact id, or an e-mail", q, conn.ID)
}

// linksByEmail returns the links whose contacts have the e-mail, and the contact ids found
// on each side; without a match key it searches both APIs.
func (a *app) linksByEmail(ctx context.Context, st store.Store, conn store.Connection, email string) (map[string]store.Link, map[store.Side][]string, error) {
	ids := map[store.Side][]string{}
	matched, err := a.linksByMatchKey(ctx, conn.ID, email, ids)
	if err != nil {
		return nil, nil, err
	}
	if len(matched) > 0 {
		return matched, ids, nil
	}
	// Match keys come from bulk reads; a person who only arrived by webhook has none.
	c, err := a.conn(ctx, conn.ID)
	if err != nil {
		return nil, nil, err
	}
	ids, err = searchEmail(ctx, c, email)
	if err != nil {
		return nil, nil, err
	}
	for _, side := range []store.Side{store.SideGHL, store.SideRZ} {
		for _, id := range ids[side] {
			l, err := st.LinkBy(ctx, conn.ID, side, id)
			if err == nil {
				matched[l.ID] = l
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, nil, fmt.Errorf("look up %s contact %s: %w", side, id, err)
			}
		}
	}
	return matched, ids, nil
}

// linkUnlinked links the one unlinked contact (or pair) with the e-mail when link is set,
// and explains why it cannot otherwise.
func linkUnlinked(ctx context.Context, st store.Store, conn store.Connection, q string, ids map[store.Side][]string, link bool) (store.Link, error) {
	ghlIDs, rzIDs := ids[store.SideGHL], ids[store.SideRZ]
	if len(ghlIDs) == 0 && len(rzIDs) == 0 {
		return store.Link{}, notFoundErr("no contact with e-mail %s in HighLevel location %s or its Referrizer account", q, conn.GHLLocationID)
	}
	if len(ghlIDs) > 1 || len(rzIDs) > 1 {
		return store.Link{}, invalidErr("e-mail %s matches %d HighLevel and %d Referrizer contacts; name the person by contact id", q, len(ghlIDs), len(rzIDs))
	}
	if !link {
		return store.Link{}, notFoundErr("%s exists (HighLevel %s, Referrizer %s) but is not linked yet; `starter sync` or a backfill links them", q, orDash(first(ghlIDs)), orDash(first(rzIDs)))
	}
	var l store.Link
	var err error
	switch {
	case len(ghlIDs) == 1 && len(rzIDs) == 1:
		l, err = st.PairLink(ctx, conn.ID, ghlIDs[0], rzIDs[0])
	case len(ghlIDs) == 1:
		l, _, err = st.EnsureLink(ctx, conn.ID, store.SideGHL, ghlIDs[0])
	default:
		l, _, err = st.EnsureLink(ctx, conn.ID, store.SideRZ, rzIDs[0])
	}
	if err != nil {
		return l, fmt.Errorf("link %s: %w", q, err)
	}
	return l, nil
}

// linksByMatchKey returns the links owning contacts indexed under the e-mail's match key,
// recording the contact ids per side in ids.
func (a *app) linksByMatchKey(ctx context.Context, connID, email string, ids map[store.Side][]string) (map[string]store.Link, error) {
	st, err := a.store()
	if err != nil {
		return nil, err
	}
	key := "email:" + email
	out := map[string]store.Link{}
	for _, side := range []store.Side{store.SideGHL, store.SideRZ} {
		m, err := st.MatchContacts(ctx, connID, side, []string{key})
		if err != nil {
			return nil, fmt.Errorf("look up e-mail in the match index: %w", err)
		}
		for _, id := range m[key] {
			l, err := st.LinkBy(ctx, connID, side, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("look up %s contact %s: %w", side, id, err)
			}
			out[l.ID] = l
			ids[side] = append(ids[side], id)
		}
	}
	return out, nil
}

// searchEmail finds the contacts with an e-mail on each side, with reads only.
func searchEmail(ctx context.Context, c *connector.Conn, email string) (map[store.Side][]string, error) {
	ids := map[store.Side][]string{}
	page, err := c.GHL.ListContacts(ctx, ghl.ListContactsParams{Query: email, Limit: 20})
	if err != nil {
		return nil, fmt.Errorf("search HighLevel for %s: %w", email, err)
	}
	for _, gc := range page.Contacts {
		if syncmodel.EmailKey(gc.Email) == email {
			ids[store.SideGHL] = append(ids[store.SideGHL], gc.ID)
		}
	}
	rp, err := c.RZ.ListContacts(ctx, referrizer.ListOptions{Email: email, PerPage: 20})
	if err != nil {
		return nil, fmt.Errorf("search Referrizer for %s: %w", email, err)
	}
	for _, rc := range rp.Contacts {
		if syncmodel.EmailKey(rc.Email) == email {
			ids[store.SideRZ] = append(ids[store.SideRZ], rc.ID)
		}
	}
	return ids, nil
}

func ambiguous(q string, links map[string]store.Link) error {
	var ls []string
	for _, l := range links {
		ls = append(ls, fmt.Sprintf("%s (HighLevel %s, Referrizer %s)", l.ID, orDash(l.GHLContactID), orDash(l.RZContactID)))
	}
	slices.Sort(ls)
	return invalidErr("%s matches %d people: %s; name one by link id", q, len(ls), strings.Join(ls, ", "))
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// conn returns the connection's API clients and mapping, as the worker builds them.
func (a *app) conn(ctx context.Context, connID string) (*connector.Conn, error) {
	reg, err := a.connectors()
	if err != nil {
		return nil, err
	}
	c, err := reg.Get(ctx, connID)
	if errors.Is(err, connector.ErrInactive) {
		return nil, fmt.Errorf("%w (reconnect it with `starter connect`)", err)
	}
	if errors.Is(err, connector.ErrConfig) {
		return nil, withCode(ExitInvalid, err)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}
