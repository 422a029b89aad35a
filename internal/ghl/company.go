package ghl

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hlrz/hlrz/internal/store"
)

// companyRows adapts store.CompanyTokens to the store.Tokens a StoredToken uses, so a
// company's token is refreshed exactly like a connection's (single-flight across processes,
// rotation persisted under the row lock, refusals recorded).
type companyRows struct{ st store.CompanyTokens }

func (c companyRows) PutToken(ctx context.Context, t store.Token) (store.Token, error) {
	return c.st.PutCompanyToken(ctx, t.ConnectionID, t)
}

func (c companyRows) GetToken(ctx context.Context, companyID string, _ store.TokenKind) (store.Token, error) {
	t, err := c.st.GetCompanyToken(ctx, companyID)
	t.ConnectionID = companyID
	return t, err
}

func (c companyRows) UpdateToken(ctx context.Context, companyID string, _ store.TokenKind, fn func(store.Token) (store.Token, error)) (store.Token, error) {
	t, err := c.st.UpdateCompanyToken(ctx, companyID, func(cur store.Token) (store.Token, error) {
		cur.ConnectionID = companyID
		next, err := fn(cur)
		next.ConnectionID = ""
		return next, err
	})
	t.ConnectionID = companyID
	return t, err
}

// companyStatus records nothing: a company has no connection status of its own. Its
// connections learn of a refused Company token when they next need a Location token.
type companyStatus struct{ store.Connections }

func (companyStatus) SetConnectionStatus(context.Context, string, store.ConnectionStatus, string) error {
	return nil
}

// NewCompanyToken returns the token source of an agency's (company's) OAuth token, refreshed
// with user_type=Company.
func NewCompanyToken(app *OAuthApp, companies store.CompanyTokens, companyID string) (*StoredToken, error) {
	if app == nil || companies == nil || companyID == "" {
		return nil, errors.New("ghl: a company token needs the OAuth app, the company token store and a company id")
	}
	company := *app
	company.UserType = "Company"
	return NewStoredToken(StoredTokenConfig{App: &company, Tokens: companyRows{companies}, Connections: companyStatus{}, ConnectionID: companyID})
}

// errCompanyTokenRefused means POST /oauth/locationToken answered 401 to the company's
// access token: refresh the company token and try once more.
var errCompanyTokenRefused = errors.New("ghl: HighLevel refused the company's access token")

// errNeedCompanyToken means the stored token turned out to be a Location token from a
// company token (a bulk re-install replaced it): read the company's token and try again.
var errNeedCompanyToken = errors.New("ghl: the stored token is renewed from the company token")

// companyAccessToken is the company's current access token, refreshed when needed.
func (s *StoredToken) companyAccessToken(ctx context.Context) (string, error) {
	if s.company == nil || s.app == nil {
		return "", fmt.Errorf("ghl: connection %s holds a Location token from company %q, but no company token source is configured", s.connID, s.companyID)
	}
	at, err := s.company.AccessToken(ctx)
	if err != nil {
		var re *ReconnectError
		if errors.As(err, &re) {
			return "", &ReconnectError{ConnectionID: s.connID, Reason: "the token of company " + s.companyID + " is unusable: " + re.Reason}
		}
		if errors.Is(err, store.ErrNotFound) {
			return "", &ReconnectError{ConnectionID: s.connID, Reason: "no token of company " + s.companyID + " is stored"}
		}
		return "", fmt.Errorf("ghl: token of company %s: %w", s.companyID, err)
	}
	return at, nil
}

// reconnectOr marks the connection reconnect-required when err is a ReconnectError, and
// returns err.
func (s *StoredToken) reconnectOr(ctx context.Context, err error) error {
	var re *ReconnectError
	if !errors.As(err, &re) {
		return err
	}
	if serr := s.conns.SetConnectionStatus(ctx, s.connID, store.ConnReconnectRequired, re.Reason); serr != nil {
		return errors.Join(err, fmt.Errorf("ghl: record reconnect-required status: %w", serr))
	}
	return err
}

// locationToken obtains a fresh Location token for the source's connection with the
// company's access token. Called under the connection token's row lock.
func (s *StoredToken) locationToken(ctx context.Context, cur store.Token, companyAT string) (store.Token, error) {
	s.refreshes.Add(1)
	g, err := s.app.LocationToken(ctx, companyAT, s.companyID, s.locationID)
	var oe *OAuthError
	switch {
	case err == nil:
		next := cur
		next.AccessToken, next.Expiry = g.AccessToken, g.Expiry
		if g.Scope != "" {
			next.Scope = g.Scope
		}
		return next, nil
	case errors.As(err, &oe) && oe.Status == http.StatusUnauthorized:
		return cur, fmt.Errorf("%w: %w", errCompanyTokenRefused, err)
	case errors.As(err, &oe) && oe.InvalidGrant():
		// The agency no longer lets this app into the location (uninstalled, or never
		// approved): only a new install can help.
		return cur, &ReconnectError{ConnectionID: s.connID, Reason: fmt.Sprintf("HighLevel refused a Location token for %s from company %s (%v)", s.locationID, s.companyID, oe)}
	}
	return cur, err
}
