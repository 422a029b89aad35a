package store

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/hlrz/hlrz/internal/secrets"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random 16-character lower-case id, safe in URLs and workflow IDs.
func NewID() string {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return idEncoding.EncodeToString(b)
}

// ValidConnectionID reports whether id is usable as a connection id: it appears in
// workflow IDs and URLs, so it is limited to lower-case letters, digits, '-' and '_'.
func ValidConnectionID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("connection id must be 1 to 64 characters, got %d", len(id))
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("connection id %q may hold only a-z, 0-9, '-' and '_'", id)
		}
	}
	return nil
}

// Now is the store's clock: UTC, truncated to microseconds so both backends round-trip it.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// SealedToken is a token's secrets in their at-rest form.
type SealedToken struct{ Access, Refresh string }

func tokenAAD(connectionID string, kind TokenKind) []byte {
	return []byte("token/" + connectionID + "/" + string(kind))
}

// SealToken encrypts a token's secrets, bound to its row so they cannot be swapped.
func SealToken(kr *secrets.Keyring, t Token) SealedToken {
	aad := tokenAAD(t.ConnectionID, t.Kind)
	return SealedToken{Access: kr.SealString(t.AccessToken, aad), Refresh: kr.SealString(t.RefreshToken, aad)}
}

// OpenToken decrypts what SealToken produced into t.
func OpenToken(kr *secrets.Keyring, t *Token, s SealedToken) error {
	aad := tokenAAD(t.ConnectionID, t.Kind)
	var err error
	if t.AccessToken, err = kr.OpenString(s.Access, aad); err != nil {
		return fmt.Errorf("open access token of %s/%s: %w", t.ConnectionID, t.Kind, err)
	}
	if t.RefreshToken, err = kr.OpenString(s.Refresh, aad); err != nil {
		return fmt.Errorf("open refresh token of %s/%s: %w", t.ConnectionID, t.Kind, err)
	}
	return nil
}

func companyAAD(companyID string) []byte { return []byte("company-token/" + companyID) }

// SealCompanyToken encrypts a company token's secrets, bound to its company.
func SealCompanyToken(kr *secrets.Keyring, companyID string, t Token) SealedToken {
	aad := companyAAD(companyID)
	return SealedToken{Access: kr.SealString(t.AccessToken, aad), Refresh: kr.SealString(t.RefreshToken, aad)}
}

// OpenCompanyToken decrypts what SealCompanyToken produced into t.
func OpenCompanyToken(kr *secrets.Keyring, companyID string, t *Token, s SealedToken) error {
	aad := companyAAD(companyID)
	var err error
	if t.AccessToken, err = kr.OpenString(s.Access, aad); err != nil {
		return fmt.Errorf("open access token of company %s: %w", companyID, err)
	}
	if t.RefreshToken, err = kr.OpenString(s.Refresh, aad); err != nil {
		return fmt.Errorf("open refresh token of company %s: %w", companyID, err)
	}
	return nil
}

// CheckCompanyToken validates a company token before it is written.
func CheckCompanyToken(companyID string, t Token) error {
	switch {
	case strings.TrimSpace(companyID) == "":
		return fmt.Errorf("company token: company id is empty")
	case t.Mode != AuthOAuth:
		return fmt.Errorf("company token of %s: auth mode must be %q, got %q", companyID, AuthOAuth, t.Mode)
	case strings.TrimSpace(t.AccessToken) == "":
		return fmt.Errorf("company token of %s: access token is empty", companyID)
	}
	return nil
}

// CheckToken validates a token before it is written.
func CheckToken(t Token) error {
	switch {
	case t.ConnectionID == "":
		return fmt.Errorf("token: connection id is empty")
	case t.Kind != TokenGHL && t.Kind != TokenReferrizer:
		return fmt.Errorf("token: unknown kind %q", t.Kind)
	case t.Mode != AuthOAuth && t.Mode != AuthPrivate && t.Mode != AuthCompany:
		return fmt.Errorf("token: unknown auth mode %q", t.Mode)
	case strings.TrimSpace(t.AccessToken) == "":
		return fmt.Errorf("token: access token is empty")
	}
	return nil
}

// CheckConnection validates a connection before it is written.
func CheckConnection(c Connection) error {
	if err := ValidConnectionID(c.ID); err != nil {
		return err
	}
	switch c.Status {
	case "", ConnActive, ConnPaused, ConnReconnectRequired, ConnPending:
	default:
		return fmt.Errorf("connection %s: unknown status %q", c.ID, c.Status)
	}
	return nil
}
