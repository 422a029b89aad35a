package onboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/store"
)

// KindAmbiguous is the backfill's dead letter for a person it would not link by itself.
const KindAmbiguous = "Backfill.ambiguous-match"

// Replay errors.
var (
	// ErrNotReplayable: the dead letter is not work a pass can redo (e.g. an ambiguous match).
	ErrNotReplayable = errors.New("cannot be replayed")
	// ErrGone: the connection or person it names no longer exists.
	ErrGone = errors.New("no longer exists")
	// ErrBadInput: its input is not a ContactSync plan input.
	ErrBadInput = errors.New("unreadable input")
	// ErrNotOpen: it was replayed or discarded already.
	ErrNotOpen = errors.New("not open")
)

// Signaler delivers an event to a person's ContactSync; *dispatch.Dispatcher implements it.
type Signaler interface {
	Signal(ctx context.Context, ref domain.Ref, ev domain.Event) error
}

// ReplayStore is what Replay reads and writes.
type ReplayStore interface {
	store.Connections
	store.Links
	store.DeadLetters
}

// Replayed says what a replay sent.
type Replayed struct {
	Ref        domain.Ref
	Kind       string
	WorkflowID string
}

// Replay re-delivers an open ContactSync.* (or Rules.*) dead letter to the person's
// ContactSync as a fresh operator event of the failed batch's kind, then marks it replayed.
func Replay(ctx context.Context, st ReplayStore, sig Signaler, d store.DeadLetter) (Replayed, error) {
	var r Replayed
	if d.State != store.DeadOpen {
		return r, fmt.Errorf("dead letter %d is %s already: %w", d.ID, d.State, ErrNotOpen)
	}
	if d.Kind == KindAmbiguous {
		return r, fmt.Errorf("dead letter %d (%s): pick the right contact instead: %w", d.ID, d.Kind, ErrNotReplayable)
	}
	if !strings.HasPrefix(d.Kind, "ContactSync.") && !strings.HasPrefix(d.Kind, "Rules.") {
		return r, fmt.Errorf("dead letter %d: kind %q: %w", d.ID, d.Kind, ErrNotReplayable)
	}
	var in domain.PlanInput
	if err := json.Unmarshal(d.Input, &in); err != nil {
		return r, fmt.Errorf("dead letter %d: %w: %v", d.ID, ErrBadInput, err)
	}
	ref := in.Ref
	if ref.ConnectionID == "" || ref.LinkID == "" {
		ref = domain.Ref{ConnectionID: d.ConnectionID, LinkID: d.LinkID}
	}
	if ref.LinkID == "" {
		return r, fmt.Errorf("dead letter %d names no person: %w", d.ID, ErrBadInput)
	}
	if _, err := st.GetConnection(ctx, ref.ConnectionID); errors.Is(err, store.ErrNotFound) {
		return r, fmt.Errorf("dead letter %d: connection %s %w", d.ID, ref.ConnectionID, ErrGone)
	} else if err != nil {
		return r, fmt.Errorf("read connection %s: %w", ref.ConnectionID, err)
	}
	if _, err := st.GetLink(ctx, ref.ConnectionID, ref.LinkID); errors.Is(err, store.ErrNotFound) {
		return r, fmt.Errorf("dead letter %d: person %s %w (merged into another link); discard it", d.ID, ref.LinkID, ErrGone)
	} else if err != nil {
		return r, fmt.Errorf("read link %s: %w", ref.LinkID, err)
	}
	// A fresh event id, or ContactSync would drop the event as one it has seen.
	ev := domain.Event{
		Source: domain.SourceOperator, ID: fmt.Sprintf("replay:%d:%s", d.ID, store.NewID()),
		Kind: ReplayKind(in.Events), OccurredAt: time.Now().UTC(),
	}
	if err := sig.Signal(ctx, ref, ev); err != nil {
		return r, fmt.Errorf("replay dead letter %d: %w", d.ID, err)
	}
	if err := st.SetDeadLetterState(ctx, d.ID, store.DeadReplayed); err != nil {
		return r, fmt.Errorf("mark dead letter %d replayed: %w", d.ID, err)
	}
	return Replayed{Ref: ref, Kind: ev.Kind, WorkflowID: domain.ContactWorkflowID(ref.ConnectionID, ref.LinkID)}, nil
}

// ReplayKind is the kind of the failed batch when it had one, else a full pass.
func ReplayKind(events []domain.Event) string {
	var kinds []string
	for _, e := range events {
		if e.Kind != "" && !slices.Contains(kinds, e.Kind) {
			kinds = append(kinds, e.Kind)
		}
	}
	if len(kinds) == 1 {
		return kinds[0]
	}
	return domain.KindAll
}

// Discard marks an open dead letter discarded; nothing is re-run.
func Discard(ctx context.Context, st store.DeadLetters, d store.DeadLetter) error {
	if d.State != store.DeadOpen {
		return fmt.Errorf("dead letter %d is %s already: %w", d.ID, d.State, ErrNotOpen)
	}
	if err := st.SetDeadLetterState(ctx, d.ID, store.DeadDiscarded); err != nil {
		return fmt.Errorf("mark dead letter %d discarded: %w", d.ID, err)
	}
	return nil
}
