package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hlrz/hlrz/internal/store"
)

// GetCursor reads a connection's resume position.
func (s *Store) GetCursor(ctx context.Context, connID, name string) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM cursors WHERE connection_id = ? AND name = ?`, connID, name).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get cursor %s: %w", name, err)
	}
	return store.OneRow(v, err, sql.ErrNoRows, "cursor %s", name)
}

// PutCursor stores a connection's resume position.
func (s *Store) PutCursor(ctx context.Context, connID, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO cursors (connection_id, name, value, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (connection_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		connID, name, value, micros(store.Now())); err != nil {
		return fmt.Errorf("put cursor %s: %w", name, err)
	}
	return nil
}
