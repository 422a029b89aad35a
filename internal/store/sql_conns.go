package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Connections, tokens and company tokens, shared by the SQL drivers (see SQLStore).

const connCols = `id, name, ghl_location_id, ghl_company_id, mapping, settings, status, status_reason, created_at, updated_at`

func scanConn(row Scanner) (Connection, error) {
	var c Connection
	var loc *string
	var settings []byte
	var status string
	if err := row.Scan(&c.ID, &c.Name, &loc, &c.GHLCompanyID, &c.Mapping, &settings, &status, &c.StatusReason, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return c, err
	}
	if loc != nil {
		c.GHLLocationID = *loc
	}
	c.Status = ConnectionStatus(status)
	return c, DecodeSettings(&c, settings)
}

// PutConnection inserts or updates a connection by ID.
func (s *SQLStore) PutConnection(ctx context.Context, c Connection) (Connection, error) {
	c, settings, err := PrepareConnection(c)
	if err != nil {
		return c, err
	}
	// settings goes as text: JSON for PostgreSQL's jsonb, TEXT for SQLite.
	_, err = s.db.Exec(ctx, `
		INSERT INTO connections (`+connCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, ghl_location_id = excluded.ghl_location_id,
			ghl_company_id = excluded.ghl_company_id, mapping = excluded.mapping, settings = excluded.settings,
			status = excluded.status, status_reason = excluded.status_reason, updated_at = excluded.updated_at`,
		c.ID, c.Name, nullString(c.GHLLocationID), c.GHLCompanyID, c.Mapping, string(settings), string(c.Status), c.StatusReason, Now())
	if s.d.IsUnique(err) {
		return c, fmt.Errorf("connection %s: location %s already belongs to another connection: %w", c.ID, c.GHLLocationID, ErrConflict)
	}
	if err != nil {
		return c, fmt.Errorf("put connection %s: %w", c.ID, err)
	}
	return s.GetConnection(ctx, c.ID)
}

// GetConnection reads one connection.
func (s *SQLStore) GetConnection(ctx context.Context, id string) (Connection, error) {
	c, err := scanConn(s.db.QueryRow(ctx, `SELECT `+connCols+` FROM connections WHERE id = $1`, id))
	return OneRow(c, err, sql.ErrNoRows, "connection %s", id)
}

// ConnectionByLocation finds the connection of a HighLevel location.
func (s *SQLStore) ConnectionByLocation(ctx context.Context, loc string) (Connection, error) {
	c, err := scanConn(s.db.QueryRow(ctx, `SELECT `+connCols+` FROM connections WHERE ghl_location_id = $1`, loc))
	return OneRow(c, err, sql.ErrNoRows, "connection for location %s", loc)
}

// ListConnections lists all connections by id.
func (s *SQLStore) ListConnections(ctx context.Context) ([]Connection, error) {
	out, err := queryAll(ctx, s.db, scanConn, `SELECT `+connCols+` FROM connections ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return out, nil
}

// SetConnectionStatus changes a connection's status.
func (s *SQLStore) SetConnectionStatus(ctx context.Context, id string, status ConnectionStatus, reason string) error {
	n, err := s.db.Exec(ctx, `UPDATE connections SET status = $1, status_reason = $2, updated_at = $3 WHERE id = $4`,
		string(status), reason, Now(), id)
	if err != nil {
		return fmt.Errorf("set status of connection %s: %w", id, err)
	}
	return changedOne(n, "connection %s", id)
}

// ---- tokens ----

// tokenRow is where a token lives: the tokens row of a connection and kind, or the
// company_tokens row of a company. where is the SQL condition on those ($1, $2).
type tokenRow struct {
	table, where string
	args         []any
	name         string // for messages: "ghl token of connection c1", "token of company x"
}

func connTokenRow(connID string, kind TokenKind) tokenRow {
	return tokenRow{"tokens", `connection_id = $1 AND kind = $2`, []any{connID, string(kind)}, fmt.Sprintf("%s token of connection %s", kind, connID)}
}

func companyTokenRow(companyID string) tokenRow {
	return tokenRow{"company_tokens", `company_id = $1`, []any{companyID}, "token of company " + companyID}
}

// readTokenRow reads a token's columns; lock ends the query (Dialect.ForUpdate inside an
// update). The secrets stay sealed in the returned SealedToken.
func readTokenRow(ctx context.Context, q DB, r tokenRow, t Token, lock string) (Token, SealedToken, error) {
	var sealed SealedToken
	var mode string
	var expiry *time.Time
	err := q.QueryRow(ctx, `SELECT mode, access_sealed, refresh_sealed, expiry, scope, version, updated_at, refresh_rejected FROM `+r.table+
		` WHERE `+r.where+lock, r.args...).Scan(&mode, &sealed.Access, &sealed.Refresh, &expiry, &t.Scope, &t.Version, &t.UpdatedAt, &t.RefreshRejected)
	if errors.Is(err, sql.ErrNoRows) {
		return t, sealed, NotFound("%s", r.name)
	}
	if err != nil {
		return t, sealed, fmt.Errorf("read %s: %w", r.name, err)
	}
	t.Mode = AuthMode(mode)
	if expiry != nil {
		t.Expiry = *expiry
	}
	return t, sealed, nil
}

func (s *SQLStore) readToken(ctx context.Context, q DB, connID string, kind TokenKind, lock string) (Token, error) {
	t, sealed, err := readTokenRow(ctx, q, connTokenRow(connID, kind), Token{ConnectionID: connID, Kind: kind}, lock)
	if err != nil {
		return t, err
	}
	return t, OpenToken(s.kr, &t, sealed)
}

// nullTime stores a zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func (s *SQLStore) writeToken(ctx context.Context, q DB, t Token) (Token, error) {
	if err := CheckToken(t); err != nil {
		return t, err
	}
	sealed := SealToken(s.kr, t)
	now := Now()
	err := q.QueryRow(ctx, `
		INSERT INTO tokens (connection_id, kind, mode, access_sealed, refresh_sealed, expiry, scope, version, updated_at, refresh_rejected)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9)
		ON CONFLICT (connection_id, kind) DO UPDATE SET mode = excluded.mode, access_sealed = excluded.access_sealed,
			refresh_sealed = excluded.refresh_sealed, expiry = excluded.expiry, scope = excluded.scope,
			version = tokens.version + 1, updated_at = excluded.updated_at, refresh_rejected = excluded.refresh_rejected
		RETURNING version`,
		t.ConnectionID, string(t.Kind), string(t.Mode), sealed.Access, sealed.Refresh, nullTime(t.Expiry), t.Scope, now, t.RefreshRejected).Scan(&t.Version)
	if s.d.IsFK(err) {
		return t, NotFound("connection %s", t.ConnectionID)
	}
	if err != nil {
		return t, fmt.Errorf("write %s token of connection %s: %w", t.Kind, t.ConnectionID, err)
	}
	t.UpdatedAt = now
	return t, nil
}

// PutToken stores a token, replacing any previous one of the same kind.
func (s *SQLStore) PutToken(ctx context.Context, t Token) (Token, error) {
	return s.writeToken(ctx, s.db, t)
}

// GetToken reads and decrypts a token.
func (s *SQLStore) GetToken(ctx context.Context, connID string, kind TokenKind) (Token, error) {
	return s.readToken(ctx, s.db, connID, kind, "")
}

// UpdateToken runs fn while holding the token row's lock (SELECT … FOR UPDATE on
// PostgreSQL, the write lock of an immediate transaction on SQLite), so refreshes are
// single-flight across processes, and persists the result in the same transaction.
func (s *SQLStore) UpdateToken(ctx context.Context, connID string, kind TokenKind, fn func(Token) (Token, error)) (Token, error) {
	defer s.lock(connID + "/" + string(kind))()
	var out Token
	err := s.db.InTx(ctx, func(tx DB) error {
		cur, err := s.readToken(ctx, tx, connID, kind, s.d.ForUpdate)
		if err != nil {
			return err
		}
		out, err = ApplyTokenUpdate(cur, fn, func(next Token) (Token, error) {
			next.ConnectionID, next.Kind = connID, kind
			return s.writeToken(ctx, tx, next)
		})
		return err
	})
	return out, err
}

// ---- company tokens ----

func (s *SQLStore) readCompanyToken(ctx context.Context, q DB, companyID, lock string) (Token, error) {
	t, sealed, err := readTokenRow(ctx, q, companyTokenRow(companyID), Token{Kind: TokenGHLCompany}, lock)
	if err != nil {
		return t, err
	}
	return t, OpenCompanyToken(s.kr, companyID, &t, sealed)
}

func (s *SQLStore) writeCompanyToken(ctx context.Context, q DB, companyID string, t Token) (Token, error) {
	if err := CheckCompanyToken(companyID, t); err != nil {
		return t, err
	}
	sealed := SealCompanyToken(s.kr, companyID, t)
	now := Now()
	err := q.QueryRow(ctx, `
		INSERT INTO company_tokens (company_id, mode, access_sealed, refresh_sealed, expiry, scope, version, updated_at, refresh_rejected)
		VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)
		ON CONFLICT (company_id) DO UPDATE SET mode = excluded.mode, access_sealed = excluded.access_sealed,
			refresh_sealed = excluded.refresh_sealed, expiry = excluded.expiry, scope = excluded.scope,
			version = company_tokens.version + 1, updated_at = excluded.updated_at, refresh_rejected = excluded.refresh_rejected
		RETURNING version`,
		companyID, string(t.Mode), sealed.Access, sealed.Refresh, nullTime(t.Expiry), t.Scope, now, t.RefreshRejected).Scan(&t.Version)
	if err != nil {
		return t, fmt.Errorf("write token of company %s: %w", companyID, err)
	}
	t.Kind, t.UpdatedAt = TokenGHLCompany, now
	return t, nil
}

// PutCompanyToken stores a company's token, replacing any previous one.
func (s *SQLStore) PutCompanyToken(ctx context.Context, companyID string, t Token) (Token, error) {
	return s.writeCompanyToken(ctx, s.db, companyID, t)
}

// GetCompanyToken reads and decrypts a company's token.
func (s *SQLStore) GetCompanyToken(ctx context.Context, companyID string) (Token, error) {
	return s.readCompanyToken(ctx, s.db, companyID, "")
}

// UpdateCompanyToken runs fn while holding the company token row's lock and persists its
// result in the same transaction (see UpdateToken).
func (s *SQLStore) UpdateCompanyToken(ctx context.Context, companyID string, fn func(Token) (Token, error)) (Token, error) {
	defer s.lock("company/" + companyID)()
	var out Token
	err := s.db.InTx(ctx, func(tx DB) error {
		cur, err := s.readCompanyToken(ctx, tx, companyID, s.d.ForUpdate)
		if err != nil {
			return err
		}
		out, err = ApplyTokenUpdate(cur, fn, func(next Token) (Token, error) {
			return s.writeCompanyToken(ctx, tx, companyID, next)
		})
		return err
	})
	return out, err
}
