package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/store"
)

// Backfill page sides.
const (
	BackfillGHL   = "ghl"
	BackfillRZ    = "rz"
	BackfillLinks = "sync"
)

// BackfillPage reads one page of a backfill phase. On the HighLevel side it links each
// contact and indexes its email and phone, and then reads the location's tasks
// (taskscan.go); on the Referrizer side it matches each contact against that index (email
// first, then phone), links it to the match, or alone, and indexes it too; each side's
// index is marked complete after its last page (matchindex.go). On the links side it lists
// people to start. Every step is idempotent, so a retried page redoes nothing harmful.
func (b *Backfill) BackfillPage(ctx context.Context, in BackfillPageInput) (BackfillPageResult, error) {
	conn, err := b.connection(ctx, in.ConnectionID)
	if err != nil {
		return BackfillPageResult{}, err
	}
	switch in.Side {
	case BackfillGHL:
		if strings.HasPrefix(in.Cursor, taskCursorPrefix) {
			return b.tasksPage(ctx, conn, in)
		}
		return b.ghlPage(ctx, conn, in)
	case BackfillRZ:
		return b.rzPage(ctx, conn, in)
	case BackfillLinks:
		links, err := b.Store.ListLinks(ctx, in.ConnectionID, in.Cursor, in.PageSize)
		if err != nil {
			return BackfillPageResult{}, asTemporalError("list links", err)
		}
		out := BackfillPageResult{}
		for _, l := range links {
			if !l.Deleted {
				out.LinkIDs = append(out.LinkIDs, l.ID)
			}
		}
		if len(links) == in.PageSize {
			out.NextCursor = links[len(links)-1].ID
		}
		return out, nil
	}
	return BackfillPageResult{}, asTemporalError("backfill", configErr("unknown backfill side %q", in.Side))
}

func (b *Backfill) ghlPage(ctx context.Context, conn *connector.Conn, in BackfillPageInput) (BackfillPageResult, error) {
	params := ghl.SearchParams{PageLimit: in.PageSize}
	if in.Cursor != "" {
		params.SearchAfter = json.RawMessage(in.Cursor)
	} else if err := b.startMatchIndex(ctx, in.ConnectionID, store.SideGHL, b.now()); err != nil {
		return BackfillPageResult{}, err
	}
	page, err := conn.GHL.SearchContacts(ctx, params)
	if err != nil {
		return BackfillPageResult{}, asTemporalError("search HighLevel contacts", err)
	}
	out := BackfillPageResult{Seen: len(page.Contacts), NextCursor: string(page.Next)}
	if out.NextCursor == "" {
		// The phase goes on with the location's tasks (taskscan.go).
		out.NextCursor = b.firstTaskCursor()
	}
	var keys []store.MatchKey
	var obs []store.Observation
	for _, c := range page.Contacts {
		if _, created, err := b.Store.EnsureLink(ctx, in.ConnectionID, store.SideGHL, c.ID); err != nil {
			return out, asTemporalError("link HighLevel contact", err)
		} else if created {
			out.New++
		}
		for _, k := range matchKeys(conn, c.Email, c.Phone) {
			keys = append(keys, store.MatchKey{Key: k, ContactID: c.ID})
		}
		raw, err := json.Marshal(c)
		if err != nil {
			return out, asTemporalError("encode contact", err)
		}
		obs = append(obs, store.Observation{ContactID: c.ID, Body: raw, ObservedAt: b.now()})
	}
	if err := b.Store.PutMatchKeys(ctx, in.ConnectionID, store.SideGHL, keys); err != nil {
		return out, asTemporalError("index HighLevel contacts", err)
	}
	if len(page.Next) == 0 {
		if err := b.completeMatchIndex(ctx, in.ConnectionID, store.SideGHL); err != nil {
			return out, err
		}
	}
	if err := b.Store.PutObservations(ctx, in.ConnectionID, store.SideGHL, obs); err != nil {
		return out, asTemporalError("record HighLevel page", err)
	}
	return out, nil
}

func (b *Backfill) rzPage(ctx context.Context, conn *connector.Conn, in BackfillPageInput) (BackfillPageResult, error) {
	pageNo := 1
	if in.Cursor != "" {
		if _, err := fmt.Sscanf(in.Cursor, "%d", &pageNo); err != nil || pageNo < 1 {
			return BackfillPageResult{}, asTemporalError("backfill", configErr("bad Referrizer cursor %q", in.Cursor))
		}
	}
	if pageNo == 1 {
		if err := b.startMatchIndex(ctx, in.ConnectionID, store.SideRZ, b.now()); err != nil {
			return BackfillPageResult{}, err
		}
	}
	page, err := conn.RZ.ListContacts(ctx, referrizer.ListOptions{Page: pageNo, PerPage: in.PageSize})
	if err != nil {
		return BackfillPageResult{}, asTemporalError("list Referrizer contacts", err)
	}
	out := BackfillPageResult{Seen: len(page.Contacts)}
	if page.HasNext() {
		out.NextCursor = fmt.Sprint(pageNo + 1)
	}
	// One query for the whole page's keys.
	keysOf := map[string][]string{}
	var all []string
	for _, c := range page.Contacts {
		keysOf[c.ID] = matchKeys(conn, c.Email, c.Phone)
		all = append(all, keysOf[c.ID]...)
	}
	matches, err := b.Store.MatchContacts(ctx, in.ConnectionID, store.SideGHL, all)
	if err != nil {
		return out, asTemporalError("match Referrizer contacts", err)
	}
	var obs []store.Observation
	var rzKeys []store.MatchKey
	for _, c := range page.Contacts {
		raw, err := json.Marshal(c)
		if err != nil {
			return out, asTemporalError("encode contact", err)
		}
		obs = append(obs, store.Observation{ContactID: c.ID, Body: raw, ObservedAt: b.now()})
		for _, k := range keysOf[c.ID] {
			rzKeys = append(rzKeys, store.MatchKey{Key: k, ContactID: c.ID})
		}
		ghlID, ambiguous := pickMatch(keysOf[c.ID], matches)
		switch {
		case ambiguous != nil:
			if err := b.holdAmbiguous(ctx, in.ConnectionID, c.ID, ambiguous, "Referrizer contact matches %d HighLevel contacts"); err != nil {
				return out, err
			}
			out.Ambiguous++
			continue
		case ghlID != "":
			if err := b.pair(ctx, in.ConnectionID, ghlID, c.ID); err != nil {
				if !errors.Is(err, store.ErrConflict) {
					return out, asTemporalError("pair contacts", err)
				}
				// One of them is already linked to someone else (a pass matched them
				// differently, or an operator did): not ours to undo.
				if err := b.holdAmbiguous(ctx, in.ConnectionID, c.ID, []string{ghlID}, "Referrizer contact matches %d HighLevel contact that is linked to another person"); err != nil {
					return out, err
				}
				out.Ambiguous++
				continue
			}
			out.Linked++
		default:
			if _, created, err := b.Store.EnsureLink(ctx, in.ConnectionID, store.SideRZ, c.ID); err != nil {
				return out, asTemporalError("link Referrizer contact", err)
			} else if created {
				out.New++
			}
		}
	}
	if err := b.Store.PutMatchKeys(ctx, in.ConnectionID, store.SideRZ, rzKeys); err != nil {
		return out, asTemporalError("index Referrizer contacts", err)
	}
	if out.NextCursor == "" {
		if err := b.completeMatchIndex(ctx, in.ConnectionID, store.SideRZ); err != nil {
			return out, err
		}
	}
	if err := b.Store.PutObservations(ctx, in.ConnectionID, store.SideRZ, obs); err != nil {
		return out, asTemporalError("record Referrizer page", err)
	}
	return out, nil
}

// pair links a HighLevel contact and the Referrizer contact matching it as one person.
// When each already has a one-sided link of its own (a poll or webhook linked one of them
// while the backfill ran, before that link's pass matched it), the Referrizer contact's link
// is absorbed into the HighLevel contact's, as a create's echo is (ClaimContact): it is the
// same person by the matching rule, and holding them would leave them unmerged for good. A
// link that already pairs either contact with someone else is still ErrConflict.
func (b *Backfill) pair(ctx context.Context, connID, ghlID, rzID string) error {
	_, err := b.Store.PairLink(ctx, connID, ghlID, rzID)
	if !errors.Is(err, store.ErrConflict) {
		return err
	}
	gl, lerr := b.Store.LinkBy(ctx, connID, store.SideGHL, ghlID)
	if lerr != nil || gl.RZContactID != "" || gl.Deleted {
		return err
	}
	// ClaimContact absorbs the Referrizer contact's link only if it has no HighLevel
	// contact (checked again under the links lock), else it is ErrConflict.
	_, absorbed, cerr := b.Store.ClaimContact(ctx, connID, gl.ID, store.SideRZ, rzID)
	if cerr != nil {
		return cerr
	}
	if absorbed != "" {
		b.log().Info("backfill: absorbed the one-sided link of a matched Referrizer contact", "connection", connID, "link", gl.ID, "absorbed", absorbed)
	}
	return nil
}

// pickMatch applies the matching rule: the first key kind (email, then phone) that matches
// exactly one HighLevel contact decides; a key matching several is ambiguous and is
// reported, never guessed.
func pickMatch(keys []string, matches map[string][]string) (ghlID string, ambiguous []string) {
	for _, k := range keys { // matchKeys orders email before phone
		ids := matches[k]
		switch {
		case len(ids) == 1:
			return ids[0], nil
		case len(ids) > 1:
			return "", ids
		}
	}
	return "", nil
}

// holdAmbiguous links the Referrizer contact on its own and holds it, and every candidate
// still on one side, so that no pass creates any of them on the other side, and leaves a
// dead letter an operator resolves with `starter link`. A retried page holds nothing twice
// and reports once.
func (b *Backfill) holdAmbiguous(ctx context.Context, connID, rzID string, candidates []string, reason string) error {
	sort.Strings(candidates)
	h := Hold{Reason: fmt.Sprintf(reason, len(candidates)), Side: string(store.SideGHL), Candidates: candidates}
	l, _, err := b.Store.EnsureLink(ctx, connID, store.SideRZ, rzID)
	if err != nil {
		return asTemporalError("link Referrizer contact", err)
	}
	fresh := false
	if oneSided(l) {
		if fresh, err = b.putHold(ctx, connID, l.ID, h); err != nil {
			return err
		}
	}
	for _, id := range candidates {
		cl, err := b.Store.LinkBy(ctx, connID, store.SideGHL, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return asTemporalError("look up candidate link", err)
		}
		if oneSided(cl) {
			if held, err := b.putHold(ctx, connID, cl.ID, Hold{Reason: "one of several HighLevel contacts matching one Referrizer contact", Side: string(store.SideRZ), Candidates: []string{rzID}}); err != nil {
				return err
			} else if held {
				fresh = true
			}
		}
	}
	if !fresh {
		return nil
	}
	raw, _ := json.Marshal(map[string]any{"rzContactId": rzID, "ghlCandidates": candidates, "linkId": l.ID})
	if _, err := b.Store.AddDeadLetter(ctx, store.DeadLetter{
		ConnectionID: connID, LinkID: l.ID, Kind: "Backfill.ambiguous-match", Input: raw,
		Error: h.Reason + "; not linked, held (settle with `starter link`)",
	}); err != nil {
		return asTemporalError("record ambiguous match", err)
	}
	return nil
}

// StartSyncs signals (starting when needed) the ContactSync of each person in the batch.
func (b *Backfill) StartSyncs(ctx context.Context, in StartSyncsInput) (int, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range in.LinkIDs {
		g.Go(func() error {
			return b.Signal.Signal(gctx, domain.Ref{ConnectionID: in.ConnectionID, LinkID: id}, in.Event)
		})
	}
	if err := g.Wait(); err != nil {
		return 0, asTemporalError("start syncs", err)
	}
	if b.Metrics != nil {
		b.Metrics.Signals.Add(float64(len(in.LinkIDs)))
	}
	return len(in.LinkIDs), nil
}
