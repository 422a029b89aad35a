package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hlrz/hlrz/internal/store"
)

// GetCursor reads a connection's resume position.
func (s *Store) GetCursor(ctx context.Context, connID, name string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM cursors WHERE connection_id = $1 AND name = $2`, connID, name).Scan(&v)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("get cursor %s: %w", name, err)
	}
	return store.OneRow(v, err, pgx.ErrNoRows, "cursor %s", name)
}

// PutCursor stores a connection's resume position.
func (s *Store) PutCursor(ctx context.Context, connID, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO cursors (connection_id, name, value, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (connection_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		connID, name, value, store.Now()); err != nil {
		return fmt.Errorf("put cursor %s: %w", name, err)
	}
	return nil
}
