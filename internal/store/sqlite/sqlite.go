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
	"strings"
	"sync"
	"time"

	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements store.Store on a SQLite file.
type Store struct {
	db *sql.DB
	kr *secrets.Keyring
	// tokenLocks keeps UpdateToken single-flight inside the process; BEGIN IMMEDIATE does
	// the same across processes.
	tokenLocks sync.Map // key -> *sync.Mutex
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
	s := &Store{db: db, kr: kr}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil) // immediate: holds the write lock, so two processes cannot race
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
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close releases the database.
func (s *Store) Close() { _ = s.db.Close() }

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t)
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func notFound(what string, args ...any) error {
	return store.NotFound(what, args...)
}

// ---- connections ----

const connCols = `id, name, ghl_location_id, ghl_company_id, mapping, settings, status, status_reason, created_at, updated_at`

func scanConn(row store.Scanner) (store.Connection, error) {
	var c store.Connection
	var loc sql.NullString
	var settings string
	var created, updated int64
	var status string
	if err := row.Scan(&c.ID, &c.Name, &loc, &c.GHLCompanyID, &c.Mapping, &settings, &status, &c.StatusReason, &created, &updated); err != nil {
		return c, err
	}
	c.GHLLocationID = loc.String
	c.Status = store.ConnectionStatus(status)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return c, store.DecodeSettings(&c, []byte(settings))
}

// PutConnection inserts or updates a connection by ID.
func (s *Store) PutConnection(ctx context.Context, c store.Connection) (store.Connection, error) {
	c, settings, err := store.PrepareConnection(c)
	if err != nil {
		return c, err
	}
	now := micros(store.Now())
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO connections (`+connCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, ghl_location_id = excluded.ghl_location_id,
			ghl_company_id = excluded.ghl_company_id, mapping = excluded.mapping, settings = excluded.settings,
			status = excluded.status, status_reason = excluded.status_reason, updated_at = excluded.updated_at`,
		c.ID, c.Name, nullString(c.GHLLocationID), c.GHLCompanyID, c.Mapping, string(settings), string(c.Status), c.StatusReason, now, now)
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
	c, err := scanConn(s.db.QueryRowContext(ctx, `SELECT `+connCols+` FROM connections WHERE id = ?`, id))
	return store.OneRow(c, err, sql.ErrNoRows, "connection %s", id)
}

// ConnectionByLocation finds the connection of a HighLevel location.
func (s *Store) ConnectionByLocation(ctx context.Context, loc string) (store.Connection, error) {
	c, err := scanConn(s.db.QueryRowContext(ctx, `SELECT `+connCols+` FROM connections WHERE ghl_location_id = ?`, loc))
	return store.OneRow(c, err, sql.ErrNoRows, "connection for location %s", loc)
}

// ListConnections lists all connections by id.
func (s *Store) ListConnections(ctx context.Context) ([]store.Connection, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+connCols+` FROM connections ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	return store.CollectRows(rows, scanConn)
}

// SetConnectionStatus changes a connection's status.
func (s *Store) SetConnectionStatus(ctx context.Context, id string, status store.ConnectionStatus, reason string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE connections SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?`,
		string(status), reason, micros(store.Now()), id)
	if err != nil {
		return fmt.Errorf("set status of connection %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("connection %s", id)
	}
	return nil
}

// ---- tokens ----

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) readToken(ctx context.Context, q queryer, connID string, kind store.TokenKind) (store.Token, error) {
	t := store.Token{ConnectionID: connID, Kind: kind}
	var sealed store.SealedToken
	var mode string
	var expiry sql.NullInt64
	var updated int64
	err := q.QueryRowContext(ctx, `SELECT mode, access_sealed, refresh_sealed, expiry, scope, version, updated_at, refresh_rejected
		FROM tokens WHERE connection_id = ? AND kind = ?`, connID, string(kind)).
		Scan(&mode, &sealed.Access, &sealed.Refresh, &expiry, &t.Scope, &t.Version, &updated, &t.RefreshRejected)
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFound("%s token of connection %s", kind, connID)
	}
	if err != nil {
		return t, fmt.Errorf("read %s token of connection %s: %w", kind, connID, err)
	}
	t.Mode = store.AuthMode(mode)
	t.Expiry = fromNullMicros(expiry)
	t.UpdatedAt = fromMicros(updated)
	return t, store.OpenToken(s.kr, &t, sealed)
}

func (s *Store) writeToken(ctx context.Context, q queryer, t store.Token) (store.Token, error) {
	if err := store.CheckToken(t); err != nil {
		return t, err
	}
	sealed := store.SealToken(s.kr, t)
	now := store.Now()
	err := q.QueryRowContext(ctx, `
		INSERT INTO tokens (connection_id, kind, mode, access_sealed, refresh_sealed, expiry, scope, version, updated_at, refresh_rejected)
		VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
		ON CONFLICT (connection_id, kind) DO UPDATE SET mode = excluded.mode, access_sealed = excluded.access_sealed,
			refresh_sealed = excluded.refresh_sealed, expiry = excluded.expiry, scope = excluded.scope,
			version = tokens.version + 1, updated_at = excluded.updated_at, refresh_rejected = excluded.refresh_rejected
		RETURNING version`,
		t.ConnectionID, string(t.Kind), string(t.Mode), sealed.Access, sealed.Refresh, nullMicros(t.Expiry), t.Scope, micros(now), t.RefreshRejected).Scan(&t.Version)
	if err != nil {
		if isFK(err) {
			return t, notFound("connection %s", t.ConnectionID)
		}
		return t, fmt.Errorf("write %s token of connection %s: %w", t.Kind, t.ConnectionID, err)
	}
	t.UpdatedAt = now
	return t, nil
}

// PutToken stores a token, replacing any previous one of the same kind.
func (s *Store) PutToken(ctx context.Context, t store.Token) (store.Token, error) {
	return s.writeToken(ctx, s.db, t)
}

// GetToken reads and decrypts a token.
func (s *Store) GetToken(ctx context.Context, connID string, kind store.TokenKind) (store.Token, error) {
	return s.readToken(ctx, s.db, connID, kind)
}

// UpdateToken runs fn under an exclusive lock and persists its result in the same transaction.
func (s *Store) UpdateToken(ctx context.Context, connID string, kind store.TokenKind, fn func(store.Token) (store.Token, error)) (store.Token, error) {
	mu, _ := s.tokenLocks.LoadOrStore(connID+"/"+string(kind), &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Token{}, fmt.Errorf("update %s token of connection %s: begin: %w", kind, connID, err)
	}
	defer func() { _ = tx.Rollback() }()
	cur, err := s.readToken(ctx, tx, connID, kind)
	if err != nil {
		return cur, err
	}
	next, err := store.ApplyTokenUpdate(cur, fn, func(next store.Token) (store.Token, error) {
		next.ConnectionID, next.Kind = connID, kind
		return s.writeToken(ctx, tx, next)
	})
	if err != nil {
		return cur, err
	}
	if err := tx.Commit(); err != nil {
		return cur, fmt.Errorf("update %s token of connection %s: commit: %w", kind, connID, err)
	}
	return next, nil
}

func isFK(err error) bool {
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}
