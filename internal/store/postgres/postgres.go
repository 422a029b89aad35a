// Package postgres is the production store on PostgreSQL (pgx/v5, pgxpool).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while migrating, so that two processes
// starting together apply each migration once.
const migrationLockKey = 0x686c727a // "hlrz"

// Store implements store.Store on PostgreSQL: the shared methods (store.SQLStore) over the
// pool, and the ones PostgreSQL does its own way (claiming the inbox with SKIP LOCKED,
// arrays, resealing by ctid).
type Store struct {
	*store.SQLStore
	pool *pgxpool.Pool
	db   pgDB
	kr   *secrets.Keyring
}

var _ store.Store = (*Store)(nil)

// Open connects with a pgx connection string (URL or key=value) and applies migrations.
func Open(ctx context.Context, dsn string, kr *secrets.Keyring) (*Store, error) {
	if kr == nil {
		return nil, errors.New("postgres store: a keyring is required to seal tokens")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx echoes the DSN (with its password) in some parse errors; say only what failed.
		return nil, errors.New("postgres store: DATABASE_URL is not a valid PostgreSQL connection string")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: create pool: %w", err)
	}
	db := pgDB{pool}
	s := &Store{SQLStore: store.NewSQLStore(poolDB{db, pool}, kr, dialect), pool: pool, db: db, kr: kr}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Pool exposes the pool for tests and tools that need raw SQL.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("postgres store: take migration lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey)
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
		return fmt.Errorf("postgres store: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var done bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name).Scan(&done); err != nil {
			return fmt.Errorf("postgres store: read schema_migrations: %w", err)
		}
		if done {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, now())`, name)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres store: apply %s: %w", name, err)
		}
	}
	return nil
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Close releases the pool.
func (s *Store) Close() { s.pool.Close() }
