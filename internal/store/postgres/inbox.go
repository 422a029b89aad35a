package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hlrz/hlrz/internal/store"
)

const inboxCols = `id, dedupe_key, source, event_type, location_id, body, received_at, state, attempts, next_attempt_at, last_error, note`

func (s *Store) scanInbox(row store.Scanner) (store.InboxEvent, error) {
	var e store.InboxEvent
	var state string
	err := row.Scan(&e.ID, &e.DedupeKey, &e.Source, &e.EventType, &e.LocationID, &e.Body, &e.ReceivedAt, &state, &e.Attempts, &e.NextAttemptAt, &e.LastError, &e.Note)
	e.State = store.InboxState(state)
	utc(&e.ReceivedAt)
	utc(&e.NextAttemptAt)
	if err == nil {
		err = store.OpenInboxBody(s.kr, &e)
	}
	return e, err
}

// InsertInbox stores a webhook delivery unless its dedupe key was seen.
func (s *Store) InsertInbox(ctx context.Context, e store.InboxEvent) (int64, bool, error) {
	e, err := store.PrepareInbox(e)
	if err != nil {
		return 0, false, err
	}
	var id int64
	err = s.pool.QueryRow(ctx, `INSERT INTO inbox (dedupe_key, source, event_type, location_id, body, received_at, state, next_attempt_at, note)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $8) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
		e.DedupeKey, e.Source, e.EventType, e.LocationID, store.SealBlob(s.kr, e.Body, store.InboxAAD(e.DedupeKey)), e.ReceivedAt, string(e.State), e.Note).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("insert inbox event: %w", err)
	}
	return id, true, nil
}

// ClaimInbox leases due pending events to owner. SKIP LOCKED lets several relays claim
// disjoint batches at once; the lease makes a crashed relay's rows claimable again.
func (s *Store) ClaimInbox(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.InboxEvent, error) {
	now := store.Now()
	rows, err := s.pool.Query(ctx, `
		UPDATE inbox SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1
		WHERE id IN (
			SELECT id FROM inbox
			WHERE state = 'pending' AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until < $3)
			ORDER BY next_attempt_at, id LIMIT $4
			FOR UPDATE SKIP LOCKED)
		RETURNING `+inboxCols, owner, now.Add(lease), now, limit)
	if err != nil {
		return nil, fmt.Errorf("claim inbox: %w", err)
	}
	defer rows.Close()
	var out []store.InboxEvent
	for rows.Next() {
		e, err := s.scanInbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim inbox: %w", err)
	}
	// RETURNING does not keep the subquery's order.
	sortInbox(out)
	return out, nil
}

func sortInbox(evs []store.InboxEvent) {
	sort.Slice(evs, func(i, j int) bool {
		if !evs[i].NextAttemptAt.Equal(evs[j].NextAttemptAt) {
			return evs[i].NextAttemptAt.Before(evs[j].NextAttemptAt)
		}
		return evs[i].ID < evs[j].ID
	})
}

// ExtendInbox renews owner's lease on the rows among ids it still holds.
func (s *Store) ExtendInbox(ctx context.Context, owner string, ids []int64, lease time.Duration) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `UPDATE inbox SET claimed_until = $1
		WHERE claimed_by = $2 AND state = 'pending' AND claimed_until IS NOT NULL AND id = ANY($3)`,
		store.Now().Add(lease), owner, ids)
	if err != nil {
		return 0, fmt.Errorf("extend inbox leases: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// FinishInbox sets a final state.
func (s *Store) FinishInbox(ctx context.Context, id int64, state store.InboxState, note string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE inbox SET state = $1, note = $2, claimed_by = '', claimed_until = NULL WHERE id = $3`, string(state), note, id)
	if err != nil {
		return fmt.Errorf("finish inbox %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("inbox event %d", id)
	}
	return nil
}

// RetryInbox returns a claimed event to pending.
func (s *Store) RetryInbox(ctx context.Context, id int64, next time.Time, lastErr string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE inbox SET state = 'pending', next_attempt_at = $1, last_error = $2, claimed_by = '', claimed_until = NULL WHERE id = $3`,
		next.UTC(), lastErr, id)
	if err != nil {
		return fmt.Errorf("retry inbox %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("inbox event %d", id)
	}
	return nil
}

// GetInbox reads one event.
func (s *Store) GetInbox(ctx context.Context, id int64) (store.InboxEvent, error) {
	e, err := s.scanInbox(s.pool.QueryRow(ctx, `SELECT `+inboxCols+` FROM inbox WHERE id = $1`, id))
	return store.OneRow(e, err, pgx.ErrNoRows, "inbox event %d", id)
}

// InboxCounts counts events by state.
func (s *Store) InboxCounts(ctx context.Context) (map[store.InboxState]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT state, count(*) FROM inbox GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("inbox counts: %w", err)
	}
	defer rows.Close()
	return store.CollectMap[store.InboxState, int](rows)
}

// OldestPending is the receive time of the oldest pending event.
func (s *Store) OldestPending(ctx context.Context) (time.Time, error) {
	var v *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT min(received_at) FROM inbox WHERE state = 'pending'`).Scan(&v); err != nil {
		return time.Time{}, fmt.Errorf("oldest pending: %w", err)
	}
	if v == nil {
		return time.Time{}, nil
	}
	return v.UTC(), nil
}

// ---- dead letters ----

const deadCols = `id, connection_id, link_id, workflow_id, run_id, kind, input, error, state, created_at, updated_at`

func (s *Store) scanDead(row store.Scanner) (store.DeadLetter, error) {
	var d store.DeadLetter
	var state string
	err := row.Scan(&d.ID, &d.ConnectionID, &d.LinkID, &d.WorkflowID, &d.RunID, &d.Kind, &d.Input, &d.Error, &state, &d.CreatedAt, &d.UpdatedAt)
	d.State = store.DeadLetterState(state)
	utc(&d.CreatedAt)
	utc(&d.UpdatedAt)
	if err == nil {
		err = store.OpenDeadLetterInput(s.kr, &d)
	}
	return d, err
}

// AddDeadLetter records work that exhausted its retries.
func (s *Store) AddDeadLetter(ctx context.Context, d store.DeadLetter) (int64, error) {
	if d.Kind == "" {
		return 0, errors.New("add dead letter: kind is empty")
	}
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO dead_letters (connection_id, link_id, workflow_id, run_id, kind, input, error, state, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $8) RETURNING id`,
		d.ConnectionID, d.LinkID, d.WorkflowID, d.RunID, d.Kind, store.SealBlob(s.kr, d.Input, store.DeadLetterAAD(d.ConnectionID, d.Kind)), d.Error, store.Now()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add dead letter: %w", err)
	}
	return id, nil
}

// GetDeadLetter reads one dead letter.
func (s *Store) GetDeadLetter(ctx context.Context, id int64) (store.DeadLetter, error) {
	d, err := s.scanDead(s.pool.QueryRow(ctx, `SELECT `+deadCols+` FROM dead_letters WHERE id = $1`, id))
	return store.OneRow(d, err, pgx.ErrNoRows, "dead letter %d", id)
}

// ListDeadLetters lists dead letters, newest first; empty filters match all.
func (s *Store) ListDeadLetters(ctx context.Context, connID string, state store.DeadLetterState, limit int) ([]store.DeadLetter, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deadCols+` FROM dead_letters
		WHERE ($1 = '' OR connection_id = $1) AND ($2 = '' OR state = $2) ORDER BY id DESC LIMIT $3`,
		connID, string(state), limit)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	defer rows.Close()
	return store.CollectRows(rows, s.scanDead)
}

// SetDeadLetterState records what an operator did with a dead letter.
func (s *Store) SetDeadLetterState(ctx context.Context, id int64, state store.DeadLetterState) error {
	tag, err := s.pool.Exec(ctx, `UPDATE dead_letters SET state = $1, updated_at = $2 WHERE id = $3`, string(state), store.Now(), id)
	if err != nil {
		return fmt.Errorf("set dead letter %d state: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("dead letter %d", id)
	}
	return nil
}
