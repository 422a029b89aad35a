package setupapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/onboard"
	"github.com/hlrz/hlrz/internal/store"
)

// ambiguousInput is the input of a Backfill.ambiguous-match dead letter.
type ambiguousInput struct {
	RZContactID   string   `json:"rzContactId"`
	GHLCandidates []string `json:"ghlCandidates"`
}

// candidateView is one HighLevel contact that could be the undecided person.
type candidateView struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// maxCandidates bounds the contacts read to show one undecided person's choices.
const maxCandidates = 5

// candidates reads the HighLevel contacts an ambiguous dead letter names, for the business
// to pick from; nil when it is not one or they cannot be read now.
func (h *Handler) candidates(ctx context.Context, connID string, d store.DeadLetter) []candidateView {
	var in ambiguousInput
	if d.Kind != onboard.KindAmbiguous || json.Unmarshal(d.Input, &in) != nil || len(in.GHLCandidates) == 0 {
		return nil
	}
	c, err := h.cfg.Conns.Get(ctx, connID)
	if err != nil {
		return nil
	}
	var out []candidateView
	for _, id := range in.GHLCandidates[:min(len(in.GHLCandidates), maxCandidates)] {
		g, err := c.GHL.GetContact(ctx, id)
		if err != nil {
			continue
		}
		out = append(out, candidateView{ID: g.ID, Name: g.FirstName + " " + g.LastName, Email: g.Email, Phone: g.Phone})
	}
	return out
}

// resolve settles an ambiguous match with the HighLevel contact the business picked (one of
// the dead letter's candidates): the two are linked as one person (onboard.Pair, as
// `starter link`), the person gets a sync pass, and the dead letter is closed.
func (h *Handler) resolve(r *http.Request, conn *store.Connection, d store.DeadLetter) error {
	var pick struct {
		GHLID string `json:"ghlId"`
	}
	var in ambiguousInput
	if d.Kind != onboard.KindAmbiguous || json.Unmarshal(d.Input, &in) != nil || in.RZContactID == "" {
		return fmt.Errorf("dead letter %d is not an undecided match: %w", d.ID, onboard.ErrNotReplayable)
	}
	if err := decodeJSON(r, &pick); err != nil || !slices.Contains(in.GHLCandidates, pick.GHLID) {
		return fmt.Errorf("pick one of the listed HighLevel contacts: %w", onboard.ErrBadInput)
	}
	if d.State != store.DeadOpen {
		return fmt.Errorf("dead letter %d is %s already: %w", d.ID, d.State, onboard.ErrNotOpen)
	}
	ctx, cancel := bgctx(r, 20*time.Second)
	defer cancel()
	c, err := h.cfg.Conns.Get(ctx, conn.ID)
	if err != nil {
		return err
	}
	if _, err := c.GHL.GetContact(ctx, pick.GHLID); err != nil {
		return fmt.Errorf("read HighLevel contact %s: %w", pick.GHLID, err)
	}
	if _, err := c.RZ.GetContact(ctx, in.RZContactID); err != nil {
		return fmt.Errorf("read Referrizer contact %s: %w", in.RZContactID, err)
	}
	l, err := onboard.Pair(ctx, h.cfg.Store, conn.ID, pick.GHLID, in.RZContactID)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%v: %w", err, onboard.ErrGone)
	} else if err != nil {
		return err
	}
	ev := domain.Event{Source: domain.SourceOperator, ID: fmt.Sprintf("resolve:%d:%s", d.ID, store.NewID()), Kind: domain.KindAll, OccurredAt: time.Now().UTC()}
	if err := h.cfg.Signal.Signal(ctx, domain.Ref{ConnectionID: conn.ID, LinkID: l.ID}, ev); err != nil {
		return fmt.Errorf("sync the linked person: %w", err)
	}
	h.log.Info("setup page: ambiguous match settled", "connection", conn.ID, "link", l.ID)
	return onboard.Discard(ctx, h.cfg.Store, d)
}
