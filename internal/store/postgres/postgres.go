// Package postgres is the production store on PostgreSQL (pgx/v5, pgxpool).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while migrating, so that two processes
// starting together apply each migration once.
const migrationLockKey = 0x686c727a // "hlrz"

// Store implements store.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	kr   *secrets.Keyring
	// tokenLocks keeps concurrent refreshers inside one process from each taking a pool
	// connection to queue on the same row lock.
	tokenLocks sync.Map
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
	s := &Store{pool: pool, kr: kr}
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

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isUnique(err error) bool { return pgCode(err) == "23505" }
func isFK(err error) bool     { return pgCode(err) == "23503" }

func notFound(what string, args ...any) error {
	return store.NotFound(what, args...)
}

func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func utc(t *time.Time) {
	if !t.IsZero() {
		*t = t.UTC()
	}
}

// ---- connections ----

const connCols = `id, name, ghl_location_id, ghl_company_id, mapping, settings, status, status_reason, created_at, updated_at`

func scanConn(row store.Scanner) (store.Connection, error) {
	var c store.Connection
	var loc *string
	var settings []byte
	var status string
	if err := row.Scan(&c.ID, &c.Name, &loc, &c.GHLCompanyID, &c.Mapping, &settings, &status, &c.StatusReason, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return c, err
	}
	if loc != nil {
		c.GHLLocationID = *loc
	}
	c.Status = store.ConnectionStatus(status)
	utc(&c.CreatedAt)
	utc(&c.UpdatedAt)
	return c, store.DecodeSettings(&c, settings)
}

// PutConnection inserts or updates a connection by ID.
func (s *Store) PutConnection(ctx context.Context, c store.Connection) (store.Connection, error) {
	c, settings, err := store.PrepareConnection(c)
	if err != nil {
		return c, err
	}
	now := store.Now()
	_, err = s.pool.Exec(ctx, `
		INSERT INTO connections (`+connCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, ghl_location_id = excluded.ghl_location_id,
			ghl_company_id = excluded.ghl_company_id, mapping = excluded.mapping, settings = excluded.settings,
			status = excluded.status, status_reason = excluded.status_reason, updated_at = excluded.updated_at`,
		c.ID, c.Name, nullString(c.GHLLocationID), c.GHLCompanyID, c.Mapping, settings, string(c.Status), c.StatusReason, now)
	if isUnique(err) {
		return c, fmt.Errorf("connection %s: location %s already belongs to another connection: %w", c.ID, c.GHLLocationID, store.ErrConflict)
	}
	if err != nil {
		return c, fmt.Errorf("put connection %s: %w", c.ID, err)
	}
	return s.GetConnection(ctx, c.ID)
}

// GetConnection reads one connection.
func (s *Store) GetConnection(ctx context.Context, id string) (store.Connection, error) {
	c, err := scanConn(s.pool.QueryRow(ctx, `SELECT `+connCols+` FROM connections WHERE id = $1`, id))
	return store.OneRow(c, err, pgx.ErrNoRows, "connection %s", id)
}

// ConnectionByLocation finds the connection of a HighLevel location.
func (s *Store) ConnectionByLocation(ctx context.Context, loc string) (store.Connection, error) {
	c, err := scanConn(s.pool.QueryRow(ctx, `SELECT `+connCols+` FROM connections WHERE ghl_location_id = $1`, loc))
	return store.OneRow(c, err, pgx.ErrNoRows, "connection for location %s", loc)
}

// ListConnections lists all connections by id.
func (s *Store) ListConnections(ctx context.Context) ([]store.Connection, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+connCols+` FROM connections ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	return store.CollectRows(rows, scanConn)
}

// SetConnectionStatus changes a connection's status.
func (s *Store) SetConnectionStatus(ctx context.Context, id string, status store.ConnectionStatus, reason string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE connections SET status = $1, status_reason = $2, updated_at = $3 WHERE id = $4`,
		string(status), reason, store.Now(), id)
	if err != nil {
		return fmt.Errorf("set status of connection %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("connection %s", id)
	}
	return nil
}

// ---- tokens ----

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) readToken(ctx context.Context, q querier, connID string, kind store.TokenKind, forUpdate bool) (store.Token, error) {
	t := store.Token{ConnectionID: connID, Kind: kind}
	var sealed store.SealedToken
	var mode string
	var expiry *time.Time
	query := `SELECT mode, access_sealed, refresh_sealed, expiry, scope, version, updated_at, refresh_rejected FROM tokens WHERE connection_id = $1 AND kind = $2`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	err := q.QueryRow(ctx, query, connID, string(kind)).Scan(&mode, &sealed.Access, &sealed.Refresh, &expiry, &t.Scope, &t.Version, &t.UpdatedAt, &t.RefreshRejected)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, notFound("%s token of connection %s", kind, connID)
	}
	if err != nil {
		return t, fmt.Errorf("read %s token of connection %s: %w", kind, connID, err)
	}
	t.Mode = store.AuthMode(mode)
	if expiry != nil {
		t.Expiry = expiry.UTC()
	}
	utc(&t.UpdatedAt)
	return t, store.OpenToken(s.kr, &t, sealed)
}

func (s *Store) writeToken(ctx context.Context, q querier, t store.Token) (store.Token, error) {
	if err := store.CheckToken(t); err != nil {
		return t, err
	}
	sealed := store.SealToken(s.kr, t)
	now := store.Now()
	err := q.QueryRow(ctx, `
		INSERT INTO tokens (connection_id, kind, mode, access_sealed, refresh_sealed, expiry, scope, version, updated_at, refresh_rejected)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9)
		ON CONFLICT (connection_id, kind) DO UPDATE SET mode = excluded.mode, access_sealed = excluded.access_sealed,
			refresh_sealed = excluded.refresh_sealed, expiry = excluded.expiry, scope = excluded.scope,
			version = tokens.version + 1, updated_at = excluded.updated_at, refresh_rejected = excluded.refresh_rejected
		RETURNING version`,
		t.ConnectionID, string(t.Kind), string(t.Mode), sealed.Access, sealed.Refresh, nullTime(t.Expiry), t.Scope, now, t.RefreshRejected).Scan(&t.Version)
	if isFK(err) {
		return t, notFound("connection %s", t.ConnectionID)
	}
	if err != nil {
		return t, fmt.Errorf("write %s token of connection %s: %w", t.Kind, t.ConnectionID, err)
	}
	t.UpdatedAt = now
	return t, nil
}

// PutToken stores a token, replacing any previous one of the same kind.
func (s *Store) PutToken(ctx context.Context, t store.Token) (store.Token, error) {
	return s.writeToken(ctx, s.pool, t)
}

// GetToken reads and decrypts a token.
func (s *Store) GetToken(ctx context.Context, connID string, kind store.TokenKind) (store.Token, error) {
	return s.readToken(ctx, s.pool, connID, kind, false)
}

// UpdateToken runs fn while holding the token row's lock (SELECT … FOR UPDATE), so refreshes
// are single-flight across processes, and persists the result in the same transaction.
func (s *Store) UpdateToken(ctx context.Context, connID string, kind store.TokenKind, fn func(store.Token) (store.Token, error)) (store.Token, error) {
	mu, _ := s.tokenLocks.LoadOrStore(connID+"/"+string(kind), &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	var out store.Token
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := s.readToken(ctx, tx, connID, kind, true)
		if err != nil {
			return err
		}
		out, err = store.ApplyTokenUpdate(cur, fn, func(next store.Token) (store.Token, error) {
			next.ConnectionID, next.Kind = connID, kind
			return s.writeToken(ctx, tx, next)
		})
		return err
	})
	return out, err
}
