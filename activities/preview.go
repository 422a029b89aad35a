package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// MaxPreviewPeople bounds what a first-sync preview reads per side; past it the preview
// says it is incomplete rather than read forever.
const MaxPreviewPeople = 20000

// Preview is what the first backfill of a connection will do, worked out by reading both
// sides and writing nothing. It applies the backfill's own matching (matchKeys, pickMatch,
// a HighLevel contact pairs with one Referrizer contact only) and the first pass's holds
// (people sharing their e-mail or phone with another person of their own side), so on a
// connection nothing has synced yet its counts are the backfill's: Linked is
// BackfillProgress.Linked, Ambiguous its Ambiguous, CreateInRZ+CreateInGHL its Created.
type Preview struct {
	GHLContacts int `json:"ghlContacts"`
	RZContacts  int `json:"rzContacts"`
	Linked      int `json:"linked"`      // pairs matched across sides
	CreateInRZ  int `json:"createInRZ"`  // HighLevel people the first sync creates in Referrizer
	CreateInGHL int `json:"createInGHL"` // Referrizer people the first sync creates in HighLevel
	Ambiguous   int `json:"ambiguous"`   // Referrizer people matching several, or a taken, HighLevel contact
	Held        int `json:"held"`        // one-sided people sharing a key with another of their side: not created
	// AmbiguousPeople lists the ambiguous ones with their candidates, to pick from.
	AmbiguousPeople []PreviewAmbiguous `json:"ambiguousPeople,omitempty"`
	// Merges is a sample of linked pairs and what their first sync changes.
	Merges     []PreviewMerge `json:"merges,omitempty"`
	Incomplete bool           `json:"incomplete,omitempty"`
}

// PreviewPerson names a contact on one side.
type PreviewPerson struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// PreviewAmbiguous is a Referrizer contact the backfill will not link by itself.
type PreviewAmbiguous struct {
	RZ         PreviewPerson   `json:"rz"`
	Candidates []PreviewPerson `json:"candidates"`
	Reason     string          `json:"reason"`
}

// PreviewMerge is one linked pair and the summary of its first sync's plan.
type PreviewMerge struct {
	GHL     PreviewPerson `json:"ghl"`
	RZ      PreviewPerson `json:"rz"`
	Summary string        `json:"summary"`
}

// previewSample is how many merges a preview shows.
const previewSample = 5

// PreviewFirstSync reads every contact of both sides of conn (pageSize per request) and
// returns what the backfill would do. It writes nothing.
func PreviewFirstSync(ctx context.Context, conn *connector.Conn, pageSize int) (Preview, error) {
	if pageSize <= 0 {
		pageSize = 100
	}
	var p Preview
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

func ambiguousOf(c referrizer.Contact, candidates []string, byID map[string]*ghl.Contact, reason string) PreviewAmbiguous {
	a := PreviewAmbiguous{RZ: rzPreviewPerson(c), Reason: reason}
	ids := slices.Sorted(slices.Values(candidates))
	for _, id := range ids {
		if g := byID[id]; g != nil {
			a.Candidates = append(a.Candidates, ghlPreviewPerson(*g))
		}
	}
	return a
}

func mergeOf(m *syncmodel.Mapping, g *ghl.Contact, r referrizer.Contact) PreviewMerge {
	plan := m.Plan(nil, GHLPerson(m, g), RZPerson(m, &r), syncmodel.PlanOptions{})
	summary := plan.Summary()
	if plan.Empty() {
		summary = "already the same on both sides"
	}
	return PreviewMerge{GHL: ghlPreviewPerson(*g), RZ: rzPreviewPerson(r), Summary: summary}
}

func ghlPreviewPerson(c ghl.Contact) PreviewPerson {
	return PreviewPerson{ID: c.ID, Name: joinName(c.FirstName, c.LastName), Email: c.Email, Phone: c.Phone}
}

func rzPreviewPerson(c referrizer.Contact) PreviewPerson {
	return PreviewPerson{ID: c.ID, Name: joinName(c.FirstName, c.LastName), Email: c.Email, Phone: c.Phone}
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
