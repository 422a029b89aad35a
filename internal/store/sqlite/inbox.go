package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hlrz/hlrz/internal/store"
)

const inboxCols = `id, dedupe_key, source, event_type, location_id, body, received_at, state, attempts, next_attempt_at, last_error, note`

func (s *Store) scanInbox(row store.Scanner) (store.InboxEvent, error) {
	var e store.InboxEvent
	var received, next int64
	var state string
	err := row.Scan(&e.ID, &e.DedupeKey, &e.Source, &e.EventType, &e.LocationID, &e.Body, &received, &state, &e.Attempts, &next, &e.LastError, &e.Note)
	e.ReceivedAt, e.NextAttemptAt, e.State = fromMicros(received), fromMicros(next), store.InboxState(state)
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
	err = s.db.QueryRowContext(ctx, `INSERT INTO inbox (dedupe_key, source, event_type, location_id, body, received_at, state, next_attempt_at, note)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
		e.DedupeKey, e.Source, e.EventType, e.LocationID, store.SealBlob(s.kr, e.Body, store.InboxAAD(e.DedupeKey)), micros(e.ReceivedAt), string(e.State), micros(e.ReceivedAt), e.Note).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("insert inbox event: %w", err)
	}
	return id, true, nil
}

// ClaimInbox leases due pending events to owner.
func (s *Store) ClaimInbox(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.InboxEvent, error) {
	now := store.Now()
	// BEGIN IMMEDIATE serialises claimers, which is what SKIP LOCKED achieves on PostgreSQL.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("claim inbox: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, `SELECT `+inboxCols+` FROM inbox
		WHERE state = 'pending' AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)
		ORDER BY next_attempt_at, id LIMIT ?`, micros(now), micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim inbox: %w", err)
	}
	var out []store.InboxEvent
	for rows.Next() {
		e, err := s.scanInbox(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Attempts++
		if _, err := tx.ExecContext(ctx, `UPDATE inbox SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1 WHERE id = ?`,
			owner, micros(now.Add(lease)), out[i].ID); err != nil {
			return nil, fmt.Errorf("claim inbox: %w", err)
		}
	}
	return out, tx.Commit()
}

// ExtendInbox renews owner's lease on the rows among ids it still holds.
func (s *Store) ExtendInbox(ctx context.Context, owner string, ids []int64, lease time.Duration) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := []any{micros(store.Now().Add(lease)), owner}
	marks := make([]string, len(ids))
	for i, id := range ids {
		marks[i] = "?"
		args = append(args, id)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE inbox SET claimed_until = ?
		WHERE claimed_by = ? AND state = 'pending' AND claimed_until IS NOT NULL AND id IN (`+strings.Join(marks, ",")+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("extend inbox leases: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// FinishInbox sets a final state.
func (s *Store) FinishInbox(ctx context.Context, id int64, state store.InboxState, note string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE inbox SET state = ?, note = ?, claimed_by = '', claimed_until = NULL WHERE id = ?`, string(state), note, id)
	if err != nil {
		return fmt.Errorf("finish inbox %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("inbox event %d", id)
	}
	return nil
}

// RetryInbox returns a claimed event to pending.
func (s *Store) RetryInbox(ctx context.Context, id int64, next time.Time, lastErr string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE inbox SET state = 'pending', next_attempt_at = ?, last_error = ?, claimed_by = '', claimed_until = NULL WHERE id = ?`,
		micros(next), lastErr, id)
	if err != nil {
		return fmt.Errorf("retry inbox %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("inbox event %d", id)
	}
	return nil
}

// GetInbox reads one event.
func (s *Store) GetInbox(ctx context.Context, id int64) (store.InboxEvent, error) {
	e, err := s.scanInbox(s.db.QueryRowContext(ctx, `SELECT `+inboxCols+` FROM inbox WHERE id = ?`, id))
	return store.OneRow(e, err, sql.ErrNoRows, "inbox event %d", id)
}

// InboxCounts counts events by state.
func (s *Store) InboxCounts(ctx context.Context) (map[store.InboxState]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, count(*) FROM inbox GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("inbox counts: %w", err)
	}
	defer rows.Close()
	return store.CollectMap[store.InboxState, int](rows)
}

// OldestPending is the receive time of the oldest pending event.
func (s *Store) OldestPending(ctx context.Context) (time.Time, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT min(received_at) FROM inbox WHERE state = 'pending'`).Scan(&v); err != nil {
		return time.Time{}, fmt.Errorf("oldest pending: %w", err)
	}
	return fromNullMicros(v), nil
}

// ---- dead letters ----

const deadCols = `id, connection_id, link_id, workflow_id, run_id, kind, input, error, state, created_at, updated_at`

func (s *Store) scanDead(row store.Scanner) (store.DeadLetter, error) {
	var d store.DeadLetter
	var state string
	var created, updated int64
	err := row.Scan(&d.ID, &d.ConnectionID, &d.LinkID, &d.WorkflowID, &d.RunID, &d.Kind, &d.Input, &d.Error, &state, &created, &updated)
	d.State, d.CreatedAt, d.UpdatedAt = store.DeadLetterState(state), fromMicros(created), fromMicros(updated)
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
	now := micros(store.Now())
	var id int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO dead_letters (connection_id, link_id, workflow_id, run_id, kind, input, error, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?) RETURNING id`,
		d.ConnectionID, d.LinkID, d.WorkflowID, d.RunID, d.Kind, store.SealBlob(s.kr, d.Input, store.DeadLetterAAD(d.ConnectionID, d.Kind)), d.Error, now, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add dead letter: %w", err)
	}
	return id, nil
}

// GetDeadLetter reads one dead letter.
func (s *Store) GetDeadLetter(ctx context.Context, id int64) (store.DeadLetter, error) {
	d, err := s.scanDead(s.db.QueryRowContext(ctx, `SELECT `+deadCols+` FROM dead_letters WHERE id = ?`, id))
	return store.OneRow(d, err, sql.ErrNoRows, "dead letter %d", id)
}

// ListDeadLetters lists dead letters, newest first; empty filters match all.
func (s *Store) ListDeadLetters(ctx context.Context, connID string, state store.DeadLetterState, limit int) ([]store.DeadLetter, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deadCols+` FROM dead_letters
		WHERE (? = '' OR connection_id = ?) AND (? = '' OR state = ?) ORDER BY id DESC LIMIT ?`,
		connID, connID, string(state), string(state), limit)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	defer rows.Close()
	return store.CollectRows(rows, s.scanDead)
}

// SetDeadLetterState records what an operator did with a dead letter.
func (s *Store) SetDeadLetterState(ctx context.Context, id int64, state store.DeadLetterState) error {
	res, err := s.db.ExecContext(ctx, `UPDATE dead_letters SET state = ?, updated_at = ? WHERE id = ?`, string(state), micros(store.Now()), id)
	if err != nil {
		return fmt.Errorf("set dead letter %d state: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("dead letter %d", id)
	}
	return nil
}
