package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hlrz/hlrz/internal/store"
)

// PutObservations upserts bulk-read records in one transaction; an older record never
// replaces a newer one (webhooks arrive out of order).
func (s *Store) PutObservations(ctx context.Context, connID string, side store.Side, obs []store.Observation) error {
	if len(obs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("put observations: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO observations (connection_id, side, contact_id, body, observed_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (connection_id, side, contact_id) DO UPDATE SET body = excluded.body, observed_at = excluded.observed_at
			WHERE observations.observed_at <= excluded.observed_at`)
	if err != nil {
		return fmt.Errorf("put observations: %w", err)
	}
	defer stmt.Close()
	for _, o := range obs {
		at := o.ObservedAt
		if at.IsZero() {
			at = store.Now()
		}
		if _, err := stmt.ExecContext(ctx, connID, string(side), o.ContactID, store.SealBlob(s.kr, o.Body, store.ObservationAAD(connID, side, o.ContactID)), micros(at)); err != nil {
			return fmt.Errorf("put observation: %w", err)
		}
	}
	return tx.Commit()
}

// GetObservation reads one bulk-read record.
func (s *Store) GetObservation(ctx context.Context, connID string, side store.Side, contactID string) (store.Observation, error) {
	o := store.Observation{ContactID: contactID}
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT body, observed_at FROM observations WHERE connection_id = ? AND side = ? AND contact_id = ?`,
		connID, string(side), contactID).Scan(&o.Body, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return o, notFound("observation of %s contact", side)
	}
	o.ObservedAt = fromMicros(at)
	if err == nil {
		err = store.OpenObservation(s.kr, &o, connID, side)
	}
	return o, err
}

// PutMatchKeys records match keys.
func (s *Store) PutMatchKeys(ctx context.Context, connID string, side store.Side, keys []store.MatchKey) error {
	if len(keys) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("put match keys: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO match_keys (connection_id, side, key, contact_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return fmt.Errorf("put match keys: %w", err)
	}
	defer stmt.Close()
	for _, k := range keys {
		if _, err := stmt.ExecContext(ctx, connID, string(side), store.StoredMatchKey(s.kr, k.Key), k.ContactID); err != nil {
			return fmt.Errorf("put match key: %w", err)
		}
	}
	return tx.Commit()
}

// MatchContacts maps keys to the contact ids on side that carry them.
func (s *Store) MatchContacts(ctx context.Context, connID string, side store.Side, keys []string) (map[string][]string, error) {
	out := map[string][]string{}
	lookup, back := store.MatchKeyDigests(s.kr, keys)
	for start := 0; start < len(lookup); start += 500 {
		chunk := lookup[start:min(start+500, len(lookup))]
		args := []any{connID, string(side)}
		for _, k := range chunk {
			args = append(args, k)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT key, contact_id FROM match_keys WHERE connection_id = ? AND side = ? AND key IN (?`+
			strings.Repeat(", ?", len(chunk)-1)+`) ORDER BY key, contact_id`, args...)
		if err != nil {
			return nil, fmt.Errorf("match contacts: %w", err)
		}
		err = store.CollectPairs(rows, func(k, id string) { store.AddMatch(out, back[k], id) })
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	for _, ids := range out {
		sort.Strings(ids)
	}
	return out, nil
}
