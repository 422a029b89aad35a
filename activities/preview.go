package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// MaxPreviewPeople bounds what a first-sync preview reads per side; past it the preview
// says it is incomplete rather than read forever.
const MaxPreviewPeople = 20000

// previewSample is how many merges a preview shows.
const previewSample = 5

// PreviewFirstSync reads every contact of both sides of conn (pageSize per request) and
// returns what the backfill would do. It writes nothing.
func PreviewFirstSync(ctx context.Context, conn *connector.Conn, pageSize int) (domain.Preview, error) {
	if pageSize <= 0 {
		pageSize = 100
	}
	var p domain.Preview
	ghls, more, err := readAllGHL(ctx, conn, pageSize)
	if err != nil {
		return p, err
	}
	rzs, moreRZ, err := readAllRZ(ctx, conn, pageSize)
	if err != nil {
		return p, err
	}
	p.GHLContacts, p.RZContacts, p.Incomplete = len(ghls), len(rzs), more || moreRZ
	ghlIndex, byID := map[string][]string{}, map[string]*ghl.Contact{}
	for i := range ghls {
		c := &ghls[i]
		byID[c.ID] = c
		for _, k := range matchKeys(conn, c.Email, c.Phone) {
			ghlIndex[k] = append(ghlIndex[k], c.ID)
		}
	}
	paired, held := map[string]bool{}, map[string]bool{}
	var rzAlone []referrizer.Contact
	for _, c := range rzs {
		ghlID, candidates := pickMatch(matchKeys(conn, c.Email, c.Phone), ghlIndex)
		reason := fmt.Sprintf("matches %d HighLevel contacts", len(candidates))
		if ghlID != "" && paired[ghlID] {
			// The backfill's PairLink refuses it: that contact is someone else's partner.
			candidates, reason = []string{ghlID}, "matches a HighLevel contact that is already linked to another person"
			ghlID = ""
		}
		switch {
		case candidates != nil:
			p.Ambiguous++
			p.AmbiguousPeople = append(p.AmbiguousPeople, ambiguousOf(c, candidates, byID, reason))
			for _, id := range candidates {
				held[id] = true
			}
		case ghlID != "":
			paired[ghlID] = true
			p.Linked++
			if len(p.Merges) < previewSample {
				p.Merges = append(p.Merges, mergeOf(conn.Mapping, byID[ghlID], c))
			}
		default:
			rzAlone = append(rzAlone, c)
		}
	}
	var ghlAlone []ghl.Contact
	for _, c := range ghls {
		if !paired[c.ID] && !held[c.ID] {
			ghlAlone = append(ghlAlone, c)
		}
	}
	p.CreateInRZ, p.Held = countCreates(conn, ghlAlone, ghls, func(c ghl.Contact) (string, string, string) { return c.ID, c.Email, c.Phone })
	created, heldRZ := countCreates(conn, rzAlone, rzs, func(c referrizer.Contact) (string, string, string) { return c.ID, c.Email, c.Phone })
	p.CreateInGHL, p.Held = created, p.Held+heldRZ
	return p, nil
}

// countCreates splits one-sided people into those the first pass creates on the other side
// and those it holds because another person of their side shares their first key (what
// findPartner's sharingKey finds in the backfill's index).
func countCreates[C any](conn *connector.Conn, alone, all []C, key func(C) (id, email, phone string)) (created, held int) {
	index := map[string][]string{}
	for _, c := range all {
		id, email, phone := key(c)
		for _, k := range matchKeys(conn, email, phone) {
			if !slices.Contains(index[k], id) {
				index[k] = append(index[k], id)
			}
		}
	}
	for _, c := range alone {
		_, email, phone := key(c)
		if keys := matchKeys(conn, email, phone); len(keys) > 0 && len(index[keys[0]]) > 1 {
			held++
			continue
		}
		created++
	}
	return created, held
}

func readAllGHL(ctx context.Context, conn *connector.Conn, pageSize int) ([]ghl.Contact, bool, error) {
	var out []ghl.Contact
	var after json.RawMessage
	for {
		page, err := conn.GHL.SearchContacts(ctx, ghl.SearchParams{PageLimit: pageSize, SearchAfter: after})
		if err != nil {
			return nil, false, fmt.Errorf("preview: search HighLevel contacts: %w", err)
		}
		out = append(out, page.Contacts...)
		if len(page.Next) == 0 || len(page.Contacts) == 0 {
			return out, false, nil
		}
		if len(out) >= MaxPreviewPeople {
			return out, true, nil
		}
		after = page.Next
	}
}

func readAllRZ(ctx context.Context, conn *connector.Conn, pageSize int) ([]referrizer.Contact, bool, error) {
	var out []referrizer.Contact
	for page := 1; ; page++ {
		res, err := conn.RZ.ListContacts(ctx, referrizer.ListOptions{Page: page, PerPage: pageSize})
		if err != nil {
			return nil, false, fmt.Errorf("preview: list Referrizer contacts: %w", err)
		}
		out = append(out, res.Contacts...)
		if !res.HasNext() {
			return out, false, nil
		}
		if len(out) >= MaxPreviewPeople {
			return out, true, nil
		}
	}
}

func ambiguousOf(c referrizer.Contact, candidates []string, byID map[string]*ghl.Contact, reason string) domain.PreviewAmbiguous {
	a := domain.PreviewAmbiguous{RZ: rzPreviewPerson(c), Reason: reason}
	ids := slices.Sorted(slices.Values(candidates))
	for _, id := range ids {
		if g := byID[id]; g != nil {
			a.Candidates = append(a.Candidates, ghlPreviewPerson(*g))
		}
	}
	return a
}

func mergeOf(m *syncmodel.Mapping, g *ghl.Contact, r referrizer.Contact) domain.PreviewMerge {
	plan := m.Plan(nil, GHLPerson(m, g), RZPerson(m, &r), syncmodel.PlanOptions{})
	summary := plan.Summary()
	if plan.Empty() {
		summary = "already the same on both sides"
	}
	return domain.PreviewMerge{GHL: ghlPreviewPerson(*g), RZ: rzPreviewPerson(r), Summary: summary}
}

func ghlPreviewPerson(c ghl.Contact) domain.PreviewPerson {
	return domain.PreviewPerson{ID: c.ID, Name: joinName(c.FirstName, c.LastName), Email: c.Email, Phone: c.Phone}
}

func rzPreviewPerson(c referrizer.Contact) domain.PreviewPerson {
	return domain.PreviewPerson{ID: c.ID, Name: joinName(c.FirstName, c.LastName), Email: c.Email, Phone: c.Phone}
}

func joinName(first, last string) string {
	switch {
	case first == "":
		return last
	case last == "":
		return first
	}
	return first + " " + last
}
