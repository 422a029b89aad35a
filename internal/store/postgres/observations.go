package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hlrz/hlrz/internal/store"
)

// PutObservations upserts bulk-read records in one batch; an older record never replaces a
// newer one (webhooks arrive out of order).
func (s *Store) PutObservations(ctx context.Context, connID string, side store.Side, obs []store.Observation) error {
	if len(obs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, o := range obs {
		at := o.ObservedAt
		if at.IsZero() {
			at = store.Now()
		}
		b.Queue(`INSERT INTO observations (connection_id, side, contact_id, body, observed_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (connection_id, side, contact_id) DO UPDATE SET body = excluded.body, observed_at = excluded.observed_at
			WHERE observations.observed_at <= excluded.observed_at`,
			connID, string(side), o.ContactID, store.SealBlob(s.kr, o.Body, store.ObservationAAD(connID, side, o.ContactID)), at)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("put observations: %w", err)
	}
	return nil
}

// GetObservation reads one bulk-read record.
func (s *Store) GetObservation(ctx context.Context, connID string, side store.Side, contactID string) (store.Observation, error) {
	o := store.Observation{ContactID: contactID}
	err := s.pool.QueryRow(ctx, `SELECT body, observed_at FROM observations WHERE connection_id = $1 AND side = $2 AND contact_id = $3`,
		connID, string(side), contactID).Scan(&o.Body, &o.ObservedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, notFound("observation of %s contact", side)
	}
	utc(&o.ObservedAt)
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
	b := &pgx.Batch{}
	for _, k := range keys {
		b.Queue(`INSERT INTO match_keys (connection_id, side, key, contact_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			connID, string(side), store.StoredMatchKey(s.kr, k.Key), k.ContactID)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("put match keys: %w", err)
	}
	return nil
}

// MatchContacts maps keys to the contact ids on side that carry them.
func (s *Store) MatchContacts(ctx context.Context, connID string, side store.Side, keys []string) (map[string][]string, error) {
	lookup, back := store.MatchKeyDigests(s.kr, keys)
	rows, err := s.pool.Query(ctx, `SELECT key, contact_id FROM match_keys WHERE connection_id = $1 AND side = $2 AND key = ANY($3) ORDER BY key, contact_id`,
		connID, string(side), lookup)
	if err != nil {
		return nil, fmt.Errorf("match contacts: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	err = store.CollectPairs(rows, func(k, id string) { store.AddMatch(out, back[k], id) })
	return out, err
}
