package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/hlrz/hlrz/internal/store"
)

// ---- company tokens ----

func (s *Store) readCompanyToken(ctx context.Context, q queryer, companyID string) (store.Token, error) {
	t := store.Token{Kind: store.TokenGHLCompany}
	var sealed store.SealedToken
	var mode string
	var expiry sql.NullInt64
	var updated int64
	err := q.QueryRowContext(ctx, `SELECT mode, access_sealed, refresh_sealed, expiry, scope, version, updated_at, refresh_rejected
		FROM company_tokens WHERE company_id = ?`, companyID).
		Scan(&mode, &sealed.Access, &sealed.Refresh, &expiry, &t.Scope, &t.Version, &updated, &t.RefreshRejected)
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFound("token of company %s", companyID)
	}
	if err != nil {
		return t, fmt.Errorf("read token of company %s: %w", companyID, err)
	}
	t.Mode = store.AuthMode(mode)
	t.Expiry = fromNullMicros(expiry)
	t.UpdatedAt = fromMicros(updated)
	return t, store.OpenCompanyToken(s.kr, companyID, &t, sealed)
}

func (s *Store) writeCompanyToken(ctx context.Context, q queryer, companyID string, t store.Token) (store.Token, error) {
	if err := store.CheckCompanyToken(companyID, t); err != nil {
		return t, err
	}
	sealed := store.SealCompanyToken(s.kr, companyID, t)
	now := store.Now()
	err := q.QueryRowContext(ctx, `
		INSERT INTO company_tokens (company_id, mode, access_sealed, refresh_sealed, expiry, scope, version, updated_at, refresh_rejected)
		VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)
		ON CONFLICT (company_id) DO UPDATE SET mode = excluded.mode, access_sealed = excluded.access_sealed,
			refresh_sealed = excluded.refresh_sealed, expiry = excluded.expiry, scope = excluded.scope,
			version = company_tokens.version + 1, updated_at = excluded.updated_at, refresh_rejected = excluded.refresh_rejected
		RETURNING version`,
		companyID, string(t.Mode), sealed.Access, sealed.Refresh, nullMicros(t.Expiry), t.Scope, micros(now), t.RefreshRejected).Scan(&t.Version)
	if err != nil {
		return t, fmt.Errorf("write token of company %s: %w", companyID, err)
	}
	t.Kind, t.UpdatedAt = store.TokenGHLCompany, now
	return t, nil
}

// PutCompanyToken stores a company's token, replacing any previous one.
func (s *Store) PutCompanyToken(ctx context.Context, companyID string, t store.Token) (store.Token, error) {
	return s.writeCompanyToken(ctx, s.db, companyID, t)
}

// GetCompanyToken reads and decrypts a company's token.
func (s *Store) GetCompanyToken(ctx context.Context, companyID string) (store.Token, error) {
	return s.readCompanyToken(ctx, s.db, companyID)
}

// UpdateCompanyToken runs fn under an exclusive lock and persists its result in the same
// transaction (see UpdateToken).
func (s *Store) UpdateCompanyToken(ctx context.Context, companyID string, fn func(store.Token) (store.Token, error)) (store.Token, error) {
	mu, _ := s.tokenLocks.LoadOrStore("company/"+companyID, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Token{}, fmt.Errorf("update token of company %s: begin: %w", companyID, err)
	}
	defer func() { _ = tx.Rollback() }()
	cur, err := s.readCompanyToken(ctx, tx, companyID)
	if err != nil {
		return cur, err
	}
	next, err := store.ApplyTokenUpdate(cur, fn, func(next store.Token) (store.Token, error) {
		return s.writeCompanyToken(ctx, tx, companyID, next)
	})
	if err != nil {
		return cur, err
	}
	if err := tx.Commit(); err != nil {
		return cur, fmt.Errorf("update token of company %s: commit: %w", companyID, err)
	}
	return next, nil
}
