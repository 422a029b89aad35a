package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hlrz/hlrz/internal/store"
)

// ---- company tokens ----

func (s *Store) readCompanyToken(ctx context.Context, q querier, companyID string, forUpdate bool) (store.Token, error) {
	t := store.Token{Kind: store.TokenGHLCompany}
	var sealed store.SealedToken
	var mode string
	var expiry *time.Time
	query := `SELECT mode, access_sealed, refresh_sealed, expiry, scope, version, updated_at, refresh_rejected FROM company_tokens WHERE company_id = $1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	err := q.QueryRow(ctx, query, companyID).Scan(&mode, &sealed.Access, &sealed.Refresh, &expiry, &t.Scope, &t.Version, &t.UpdatedAt, &t.RefreshRejected)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, notFound("token of company %s", companyID)
	}
	if err != nil {
		return t, fmt.Errorf("read token of company %s: %w", companyID, err)
	}
	t.Mode = store.AuthMode(mode)
	if expiry != nil {
		t.Expiry = expiry.UTC()
	}
	utc(&t.UpdatedAt)
	return t, store.OpenCompanyToken(s.kr, companyID, &t, sealed)
}

func (s *Store) writeCompanyToken(ctx context.Context, q querier, companyID string, t store.Token) (store.Token, error) {
	if err := store.CheckCompanyToken(companyID, t); err != nil {
		return t, err
	}
	sealed := store.SealCompanyToken(s.kr, companyID, t)
	now := store.Now()
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
	t.Kind, t.UpdatedAt = store.TokenGHLCompany, now
	return t, nil
}

// PutCompanyToken stores a company's token, replacing any previous one.
func (s *Store) PutCompanyToken(ctx context.Context, companyID string, t store.Token) (store.Token, error) {
	return s.writeCompanyToken(ctx, s.pool, companyID, t)
}

// GetCompanyToken reads and decrypts a company's token.
func (s *Store) GetCompanyToken(ctx context.Context, companyID string) (store.Token, error) {
	return s.readCompanyToken(ctx, s.pool, companyID, false)
}

// UpdateCompanyToken runs fn while holding the company token row's lock and persists its
// result in the same transaction (see UpdateToken).
func (s *Store) UpdateCompanyToken(ctx context.Context, companyID string, fn func(store.Token) (store.Token, error)) (store.Token, error) {
	mu, _ := s.tokenLocks.LoadOrStore("company/"+companyID, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	var out store.Token
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := s.readCompanyToken(ctx, tx, companyID, true)
		if err != nil {
			return err
		}
		out, err = store.ApplyTokenUpdate(cur, fn, func(next store.Token) (store.Token, error) {
			return s.writeCompanyToken(ctx, tx, companyID, next)
		})
		return err
	})
	return out, err
}
