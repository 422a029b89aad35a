package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The inbox, dead letters, observations, match keys, cursors, retention and connection
// removal, shared by the SQL drivers (see SQLStore).

// InboxCols are the inbox columns ScanInbox reads, in order.
const InboxCols = `id, dedupe_key, source, event_type, location_id, body, received_at, state, attempts, next_attempt_at, last_error, note`

// ScanInbox scans an inbox row (InboxCols) and opens its body; drivers use it for the
// claims they write themselves.
func (s *SQLStore) ScanInbox(row Scanner) (InboxEvent, error) {
	var e InboxEvent
	var state string
	err := row.Scan(&e.ID, &e.DedupeKey, &e.Source, &e.EventType, &e.LocationID, &e.Body, &e.ReceivedAt, &state, &e.Attempts, &e.NextAttemptAt, &e.LastError, &e.Note)
	e.State = InboxState(state)
	if err == nil {
		err = OpenInboxBody(s.kr, &e)
	}
	return e, err
}

// InsertInbox stores a webhook delivery unless its dedupe key was seen.
func (s *SQLStore) InsertInbox(ctx context.Context, e InboxEvent) (int64, bool, error) {
	e, err := PrepareInbox(e)
	if err != nil {
		return 0, false, err
	}
	var id int64
	err = s.db.QueryRow(ctx, `INSERT INTO inbox (dedupe_key, source, event_type, location_id, body, received_at, state, next_attempt_at, note)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $8) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
		e.DedupeKey, e.Source, e.EventType, e.LocationID, SealBlob(s.kr, e.Body, InboxAAD(e.DedupeKey)), e.ReceivedAt, string(e.State), e.Note).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("insert inbox event: %w", err)
	}
	return id, true, nil
}

// FinishInbox sets a final state.
func (s *SQLStore) FinishInbox(ctx context.Context, id int64, state InboxState, note string) error {
	n, err := s.db.Exec(ctx, `UPDATE inbox SET state = $1, note = $2, claimed_by = '', claimed_until = NULL WHERE id = $3`, string(state), note, id)
	if err != nil {
		return fmt.Errorf("finish inbox %d: %w", id, err)
	}
	return changedOne(n, "inbox event %d", id)
}

// RetryInbox returns a claimed event to pending.
func (s *SQLStore) RetryInbox(ctx context.Context, id int64, next time.Time, lastErr string) error {
	n, err := s.db.Exec(ctx, `UPDATE inbox SET state = 'pending', next_attempt_at = $1, last_error = $2, claimed_by = '', claimed_until = NULL WHERE id = $3`,
		next.UTC(), lastErr, id)
	if err != nil {
		return fmt.Errorf("retry inbox %d: %w", id, err)
	}
	return changedOne(n, "inbox event %d", id)
}

// GetInbox reads one event.
func (s *SQLStore) GetInbox(ctx context.Context, id int64) (InboxEvent, error) {
	e, err := s.ScanInbox(s.db.QueryRow(ctx, `SELECT `+InboxCols+` FROM inbox WHERE id = $1`, id))
	return OneRow(e, err, sql.ErrNoRows, "inbox event %d", id)
}

// InboxCounts counts events by state.
func (s *SQLStore) InboxCounts(ctx context.Context) (map[InboxState]int, error) {
	rows, err := s.db.Query(ctx, `SELECT state, count(*) FROM inbox GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("inbox counts: %w", err)
	}
	defer rows.Close()
	return CollectMap[InboxState, int](rows)
}

// OldestPending is the receive time of the oldest pending event.
func (s *SQLStore) OldestPending(ctx context.Context) (time.Time, error) {
	var v *time.Time
	if err := s.db.QueryRow(ctx, `SELECT min(received_at) FROM inbox WHERE state = 'pending'`).Scan(&v); err != nil {
		return time.Time{}, fmt.Errorf("oldest pending: %w", err)
	}
	if v == nil {
		return time.Time{}, nil
	}
	return *v, nil
}

// ---- dead letters ----

const deadCols = `id, connection_id, link_id, workflow_id, run_id, kind, input, error, state, created_at, updated_at`

func (s *SQLStore) scanDead(row Scanner) (DeadLetter, error) {
	var d DeadLetter
	var state string
	err := row.Scan(&d.ID, &d.ConnectionID, &d.LinkID, &d.WorkflowID, &d.RunID, &d.Kind, &d.Input, &d.Error, &state, &d.CreatedAt, &d.UpdatedAt)
	d.State = DeadLetterState(state)
	if err == nil {
		err = OpenDeadLetterInput(s.kr, &d)
	}
	return d, err
}

// AddDeadLetter records work that exhausted its retries.
func (s *SQLStore) AddDeadLetter(ctx context.Context, d DeadLetter) (int64, error) {
	if d.Kind == "" {
		return 0, errors.New("add dead letter: kind is empty")
	}
	var id int64
	err := s.db.QueryRow(ctx, `INSERT INTO dead_letters (connection_id, link_id, workflow_id, run_id, kind, input, error, state, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $8) RETURNING id`,
		d.ConnectionID, d.LinkID, d.WorkflowID, d.RunID, d.Kind, SealBlob(s.kr, d.Input, DeadLetterAAD(d.ConnectionID, d.Kind)), d.Error, Now()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add dead letter: %w", err)
	}
	return id, nil
}

// GetDeadLetter reads one dead letter.
func (s *SQLStore) GetDeadLetter(ctx context.Context, id int64) (DeadLetter, error) {
	d, err := s.scanDead(s.db.QueryRow(ctx, `SELECT `+deadCols+` FROM dead_letters WHERE id = $1`, id))
	return OneRow(d, err, sql.ErrNoRows, "dead letter %d", id)
}

// ListDeadLetters lists dead letters, newest first; empty filters match all.
func (s *SQLStore) ListDeadLetters(ctx context.Context, connID string, state DeadLetterState, limit int) ([]DeadLetter, error) {
	out, err := queryAll(ctx, s.db, s.scanDead, `SELECT `+deadCols+` FROM dead_letters
		WHERE ($1 = '' OR connection_id = $1) AND ($2 = '' OR state = $2) ORDER BY id DESC LIMIT $3`,
		connID, string(state), limit)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return out, nil
}

// SetDeadLetterState records what an operator did with a dead letter.
func (s *SQLStore) SetDeadLetterState(ctx context.Context, id int64, state DeadLetterState) error {
	n, err := s.db.Exec(ctx, `UPDATE dead_letters SET state = $1, updated_at = $2 WHERE id = $3`, string(state), Now(), id)
	if err != nil {
		return fmt.Errorf("set dead letter %d state: %w", id, err)
	}
	return changedOne(n, "dead letter %d", id)
}

// ---- observations and match keys ----

// PutObservations upserts bulk-read records in one batch; an older record never replaces a
// newer one (webhooks arrive out of order).
func (s *SQLStore) PutObservations(ctx context.Context, connID string, side Side, obs []Observation) error {
	if len(obs) == 0 {
		return nil
	}
	args := make([][]any, len(obs))
	for i, o := range obs {
		at := o.ObservedAt
		if at.IsZero() {
			at = Now()
		}
		args[i] = []any{connID, string(side), o.ContactID, SealBlob(s.kr, o.Body, ObservationAAD(connID, side, o.ContactID)), at}
	}
	err := s.db.ExecBatch(ctx, `INSERT INTO observations (connection_id, side, contact_id, body, observed_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (connection_id, side, contact_id) DO UPDATE SET body = excluded.body, observed_at = excluded.observed_at
			WHERE observations.observed_at <= excluded.observed_at`, args)
	if err != nil {
		return fmt.Errorf("put observations: %w", err)
	}
	return nil
}

// GetObservation reads one bulk-read record.
func (s *SQLStore) GetObservation(ctx context.Context, connID string, side Side, contactID string) (Observation, error) {
	o := Observation{ContactID: contactID}
	err := s.db.QueryRow(ctx, `SELECT body, observed_at FROM observations WHERE connection_id = $1 AND side = $2 AND contact_id = $3`,
		connID, string(side), contactID).Scan(&o.Body, &o.ObservedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return o, NotFound("observation of %s contact", side)
	}
	if err == nil {
		err = OpenObservation(s.kr, &o, connID, side)
	}
	return o, err
}

// PutMatchKeys records match keys.
func (s *SQLStore) PutMatchKeys(ctx context.Context, connID string, side Side, keys []MatchKey) error {
	if len(keys) == 0 {
		return nil
	}
	args := make([][]any, len(keys))
	for i, k := range keys {
		args[i] = []any{connID, string(side), StoredMatchKey(s.kr, k.Key), k.ContactID}
	}
	err := s.db.ExecBatch(ctx, `INSERT INTO match_keys (connection_id, side, key, contact_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, args)
	if err != nil {
		return fmt.Errorf("put match keys: %w", err)
	}
	return nil
}

// ---- cursors ----

// GetCursor reads a connection's resume position.
func (s *SQLStore) GetCursor(ctx context.Context, connID, name string) ([]byte, error) {
	var v []byte
	err := s.db.QueryRow(ctx, `SELECT value FROM cursors WHERE connection_id = $1 AND name = $2`, connID, name).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get cursor %s: %w", name, err)
	}
	return OneRow(v, err, sql.ErrNoRows, "cursor %s", name)
}

// PutCursor stores a connection's resume position.
func (s *SQLStore) PutCursor(ctx context.Context, connID, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO cursors (connection_id, name, value, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (connection_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		connID, name, value, Now()); err != nil {
		return fmt.Errorf("put cursor %s: %w", name, err)
	}
	return nil
}

// ---- retention ----

// PruneInbox implements Retention. An emptied body is an empty blob ($2), not NULL.
func (s *SQLStore) PruneInbox(ctx context.Context, bodiesBefore, rowsBefore time.Time) (int64, int64, error) {
	bodies, err := s.db.Exec(ctx, `UPDATE inbox SET body = $2 WHERE state <> 'pending' AND received_at < $1 AND length(body) > 0`, bodiesBefore, []byte{})
	if err != nil {
		return 0, 0, fmt.Errorf("prune inbox bodies: %w", err)
	}
	rows, err := s.db.Exec(ctx, `DELETE FROM inbox WHERE state <> 'pending' AND received_at < $1`, rowsBefore)
	if err != nil {
		return bodies, 0, fmt.Errorf("prune inbox rows: %w", err)
	}
	return bodies, rows, nil
}

// PruneObservations implements Retention.
func (s *SQLStore) PruneObservations(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.db.Exec(ctx, `DELETE FROM observations WHERE observed_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("prune observations: %w", err)
	}
	return n, nil
}

// ---- connection removal ----

// ConnectionFootprint counts what DeleteConnection would remove.
func (s *SQLStore) ConnectionFootprint(ctx context.Context, id string) ([]TableCount, error) {
	var out []TableCount
	for _, t := range ConnectionTables {
		var n int64
		if err := s.db.QueryRow(ctx, `SELECT count(*) FROM `+t[0]+` WHERE `+t[1]+` = $1`, id).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s of connection %s: %w", t[0], id, err)
		}
		out = append(out, TableCount{Table: t[0], Rows: n})
	}
	return out, nil
}

// DeleteConnection removes a connection and everything stored for it, in one transaction.
func (s *SQLStore) DeleteConnection(ctx context.Context, id string) ([]TableCount, error) {
	var out []TableCount
	err := s.db.InTx(ctx, func(tx DB) error {
		out = out[:0]
		for _, t := range ConnectionTables {
			n, err := tx.Exec(ctx, `DELETE FROM `+t[0]+` WHERE `+t[1]+` = $1`, id)
			if err != nil {
				return fmt.Errorf("delete %s of connection %s: %w", t[0], id, err)
			}
			out = append(out, TableCount{Table: t[0], Rows: n})
		}
		return changedOne(out[len(out)-1].Rows, "connection %s", id)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
