// Package sqlite is the zero-setup store used by `worker --dev`: one file, no server.
// It is meant for a single process; the production store is store/postgres.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"

	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements store.Store on a SQLite file: the shared methods (store.SQLStore) over
// the database, and the ones SQLite does its own way (claiming the inbox in a transaction,
// lists of placeholders instead of arrays, resealing by rowid).
type Store struct {
	*store.SQLStore
	db fileDB
	kr *secrets.Keyring
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and applies pending migrations.
func Open(ctx context.Context, path string, kr *secrets.Keyring) (*Store, error) {
	if kr == nil {
		return nil, errors.New("sqlite store: a keyring is required to seal tokens")
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	fdb := fileDB{sqlDB{db}, db}
	s := &Store{SQLStore: store.NewSQLStore(fdb, kr, dialect), db: fdb, kr: kr}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.pool.BeginTx(ctx, nil) // immediate: holds the write lock, so two processes cannot race
	if err != nil {
		return fmt.Errorf("sqlite store: begin migration: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite store: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
			return fmt.Errorf("sqlite store: read schema_migrations: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("sqlite store: apply %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, name, micros(store.Now())); err != nil {
			return fmt.Errorf("sqlite store: record %s: %w", name, err)
		}
	}
	return tx.Commit()
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.pool.PingContext(ctx) }

// Close releases the database.
func (s *Store) Close() { _ = s.db.pool.Close() }
