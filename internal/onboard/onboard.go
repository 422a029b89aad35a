// Package onboard holds the steps of setting a connection up and looking after it that
// both the operator's CLI (starter) and the business's setup page (internal/setupapp) take:
// checking and storing the Referrizer token, parsing a mapping document into line-numbered
// problems, and replaying a dead letter. One implementation, so the two cannot drift.
package onboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// CheckReferrizer validates a Referrizer API token with the cheapest read there is (one
// contact). An error matching IsRejected means the token was refused.
func CheckReferrizer(ctx context.Context, baseURL, token string) error {
	c, err := referrizer.New(token, referrizer.WithBaseURL(baseURL), referrizer.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		return err
	}
	_, err = c.ListContacts(ctx, referrizer.ListOptions{PerPage: 1})
	return err
}

// IsRejected says a check failed because the credential (or the location it names) was
// refused, not because the service was unreachable.
func IsRejected(err error) bool {
	for _, target := range []error{ghl.ErrUnauthorized, ghl.ErrForbidden, ghl.ErrNotFound, ghl.ErrValidation, referrizer.ErrUnauthorized} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// ErrRejected wraps a token the service refused; nothing was stored.
var ErrRejected = errors.New("token rejected")

// TokenStore is what SetReferrizerToken writes.
type TokenStore interface {
	store.Connections
	store.Tokens
}

// SetReferrizerToken checks token against Referrizer and, only when it is accepted, stores
// it (encrypted by the store) on the connection. A connection that was pending, waiting for
// exactly this credential after an install, becomes active. The returned error wraps
// ErrRejected when Referrizer refused the token.
func SetReferrizerToken(ctx context.Context, st TokenStore, conn store.Connection, rzBaseURL, token string) (store.Connection, error) {
	if token == "" {
		return conn, fmt.Errorf("%w: the token is empty", ErrRejected)
	}
	if err := CheckReferrizer(ctx, rzBaseURL, token); IsRejected(err) {
		return conn, fmt.Errorf("%w: Referrizer refused it (%v)", ErrRejected, err)
	} else if err != nil {
		return conn, fmt.Errorf("could not check the Referrizer token: %w", err)
	}
	if _, err := st.PutToken(ctx, store.Token{ConnectionID: conn.ID, Kind: store.TokenReferrizer, Mode: store.AuthPrivate, AccessToken: token}); err != nil {
		return conn, fmt.Errorf("save Referrizer token of %s: %w", conn.ID, err)
	}
	if conn.Status == store.ConnPending {
		if err := st.SetConnectionStatus(ctx, conn.ID, store.ConnActive, ""); err != nil {
			return conn, fmt.Errorf("activate connection %s: %w", conn.ID, err)
		}
	}
	return st.GetConnection(ctx, conn.ID)
}

// Problem is one problem of an invalid mapping document.
type Problem struct {
	Line    int    `json:"line,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// ParseMapping parses a mapping document the way the worker does; when it is invalid the
// mapping is nil and every problem is listed with its line and key path.
func ParseMapping(doc []byte) (*syncmodel.Mapping, []Problem) {
	m, err := syncmodel.ParseMapping(doc)
	if err == nil {
		return m, nil
	}
	var ces syncmodel.ConfigErrors
	if errors.As(err, &ces) {
		problems := make([]Problem, len(ces))
		for i, ce := range ces {
			problems[i] = Problem{Line: ce.Line, Path: ce.Path, Message: ce.Msg}
		}
		return nil, problems
	}
	// Not YAML at all, or too large: the parser's message carries the line when it has one.
	return nil, []Problem{{Message: err.Error()}}
}

// Pair declares a HighLevel and a Referrizer contact the same person (how an ambiguous
// match is settled; `starter link`). Either may already have a link of its own on one side
// only (a held, ambiguous person has one): the Referrizer contact's one-sided link is
// absorbed into the HighLevel contact's. A contact linked to a different partner is
// store.ErrConflict.
func Pair(ctx context.Context, st store.Links, connID, ghlID, rzID string) (store.Link, error) {
	l, _, err := st.EnsureLink(ctx, connID, store.SideGHL, ghlID)
	if err != nil {
		return l, err
	}
	switch l.RZContactID {
	case rzID:
		return l, nil
	case "":
		l, _, err = st.ClaimContact(ctx, connID, l.ID, store.SideRZ, rzID)
		return l, err
	}
	return l, fmt.Errorf("HighLevel contact %s is linked to Referrizer contact %s: %w", ghlID, l.RZContactID, store.ErrConflict)
}
