package store

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The pairing and claiming rules of links, kept here once so that every driver decides the
// same way; drivers only read the rows these functions look at and run the SQL they ask for.

// ContactColumn is the links column holding side's contact id.
func ContactColumn(side Side) (string, error) {
	switch side {
	case SideGHL:
		return "ghl_contact_id", nil
	case SideRZ:
		return "rz_contact_id", nil
	}
	return "", fmt.Errorf("unknown side %q", side)
}

// HashColumn is the ledger column holding side's hash.
func HashColumn(side Side) string {
	if side == SideRZ {
		return "rz_hash"
	}
	return "ghl_hash"
}

// CheckEnsureLink validates EnsureLink's arguments and returns side's contact column.
func CheckEnsureLink(side Side, contactID string) (string, error) {
	col, err := ContactColumn(side)
	if err != nil {
		return "", err
	}
	if contactID == "" {
		return "", errors.New("ensure link: contact id is empty")
	}
	return col, nil
}

// CheckPairLink validates PairLink's arguments.
func CheckPairLink(ghlID, rzID string) error {
	if ghlID == "" || rzID == "" {
		return errors.New("pair link: both contact ids are required")
	}
	return nil
}

// FoundLink is a link a driver looked up; Found is false when no row matched.
type FoundLink struct {
	Link  Link
	Found bool
}

// PairPlan is what pairing a HighLevel and a Referrizer contact must write.
type PairPlan struct {
	// LinkID is the link the pair ends up in; with Insert it is a new id.
	LinkID string
	// Insert asks for a new link holding both contacts.
	Insert bool
	// Attach, when set, is the side whose contact must be written into LinkID.
	Attach Side
}

// PlanPair decides how to pair, given the links that already own the HighLevel contact
// (byGHL) and the Referrizer contact (byRZ). A link that already holds another contact of
// the missing side, or two different links, make the pairing an ErrConflict.
func PlanPair(byGHL, byRZ FoundLink) (PairPlan, error) {
	switch {
	case byGHL.Found && byRZ.Found:
		if byGHL.Link.ID != byRZ.Link.ID {
			return PairPlan{}, fmt.Errorf("contacts belong to links %s and %s: %w", byGHL.Link.ID, byRZ.Link.ID, ErrConflict)
		}
		return PairPlan{LinkID: byGHL.Link.ID}, nil
	case byGHL.Found:
		if byGHL.Link.RZContactID != "" {
			return PairPlan{}, fmt.Errorf("link %s already has another Referrizer contact: %w", byGHL.Link.ID, ErrConflict)
		}
		return PairPlan{LinkID: byGHL.Link.ID, Attach: SideRZ}, nil
	case byRZ.Found:
		if byRZ.Link.GHLContactID != "" {
			return PairPlan{}, fmt.Errorf("link %s already has another HighLevel contact: %w", byRZ.Link.ID, ErrConflict)
		}
		return PairPlan{LinkID: byRZ.Link.ID, Attach: SideGHL}, nil
	}
	return PairPlan{LinkID: NewID(), Insert: true}, nil
}

// ClaimPlan is what claiming a contact for a link must do before attaching it.
type ClaimPlan struct {
	// Done means the link already owns the contact: nothing to write.
	Done bool
	// Absorb, when set, is a one-sided link owning the contact that must be deleted first.
	Absorb string
}

// PlanClaim decides how linkID claims side's contact, given the link owning it now. A
// one-sided live owner is absorbed; any other owner makes the claim an ErrConflict.
func PlanClaim(owner FoundLink, linkID string, side Side) (ClaimPlan, error) {
	switch {
	case !owner.Found:
		return ClaimPlan{}, nil
	case owner.Link.ID == linkID:
		return ClaimPlan{Done: true}, nil
	case owner.Link.ContactID(side.Other()) == "" && !owner.Link.Deleted:
		return ClaimPlan{Absorb: owner.Link.ID}, nil
	}
	return ClaimPlan{}, fmt.Errorf("link %s owns the %s contact: %w", owner.Link.ID, side, ErrConflict)
}

// PrepareConnection validates c before it is written, defaults its status, and encodes its
// settings for the settings column.
func PrepareConnection(c Connection) (Connection, []byte, error) {
	if err := CheckConnection(c); err != nil {
		return c, nil, err
	}
	if c.Status == "" {
		c.Status = ConnActive
	}
	settings, err := json.Marshal(c.Settings)
	if err != nil {
		return c, nil, fmt.Errorf("connection %s: encode settings: %w", c.ID, err)
	}
	return c, settings, nil
}

// DecodeSettings fills c.Settings from the settings column.
func DecodeSettings(c *Connection, settings []byte) error {
	if err := json.Unmarshal(settings, &c.Settings); err != nil {
		return fmt.Errorf("connection %s: decode settings: %w", c.ID, err)
	}
	return nil
}

// PrepareInbox validates a webhook delivery before it is stored and fills its defaults:
// pending, received now.
func PrepareInbox(e InboxEvent) (InboxEvent, error) {
	if e.DedupeKey == "" {
		return e, errors.New("insert inbox: dedupe key is empty")
	}
	if e.State == "" {
		e.State = InboxPending
	}
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = Now()
	}
	return e, nil
}

// ApplyTokenUpdate runs a token update inside a driver's locked transaction: fn sees the
// current token, and only a changed result is written (an unchanged one means someone else
// already refreshed). It returns the token stored afterwards; on fn's error, cur.
func ApplyTokenUpdate(cur Token, fn func(Token) (Token, error), write func(Token) (Token, error)) (Token, error) {
	next, err := fn(cur)
	if err != nil {
		return cur, err
	}
	if next == cur {
		return cur, nil
	}
	return write(next)
}
