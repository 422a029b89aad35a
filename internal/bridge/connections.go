package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/hlrz/hlrz/internal/store"
)

// ConnectionIDFor derives a connection id from a HighLevel location id: lower-cased, with
// anything outside store.ValidConnectionID's alphabet replaced by '-'. The id is
// deterministic, so the install webhook and the OAuth callback racing to create the same
// connection agree on it.
func ConnectionIDFor(locationID string) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(locationID) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			sb.WriteRune(r)
		default:
			sb.WriteByte('-')
		}
	}
	id := strings.Trim(sb.String(), "-")
	if len(id) > 64 {
		id = id[:64]
	}
	if id == "" {
		return "loc-" + locationHash(locationID)
	}
	return id
}

// disambiguatedID is the id used when ConnectionIDFor's result belongs to another
// connection: HighLevel ids are case-sensitive, so two locations can lower-case alike.
func disambiguatedID(locationID string) string {
	base := ConnectionIDFor(locationID)
	return strings.TrimRight(base[:min(len(base), 55)], "-") + "-" + locationHash(locationID)
}

func locationHash(locationID string) string {
	sum := sha256.Sum256([]byte(locationID))
	return hex.EncodeToString(sum[:4])
}

// ensureConnection returns the connection of a location, creating it when none exists.
// created is true when this call created it. A new connection is pending: an install brings
// only the HighLevel side, and nothing syncs before an operator adds the Referrizer
// credential (`starter connect`).
func (b *Bridge) ensureConnection(ctx context.Context, locationID, companyID string) (store.Connection, bool, error) {
	conn, err := b.store.ConnectionByLocation(ctx, locationID)
	if err == nil {
		return conn, false, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.Connection{}, false, fmt.Errorf("look up connection of location %s: %w", locationID, err)
	}
	id := ConnectionIDFor(locationID)
	other, err := b.store.GetConnection(ctx, id)
	switch {
	case err == nil && other.GHLLocationID != locationID:
		id = disambiguatedID(locationID)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return store.Connection{}, false, fmt.Errorf("read connection %s: %w", id, err)
	}
	conn, err = b.store.PutConnection(ctx, store.Connection{
		ID: id, Name: "HighLevel location " + locationID, GHLLocationID: locationID, GHLCompanyID: companyID,
		Status: store.ConnPending, StatusReason: pendingReason(id),
	})
	if errors.Is(err, store.ErrConflict) {
		// Someone created a connection for the location under another id meanwhile.
		if conn, err := b.store.ConnectionByLocation(ctx, locationID); err == nil {
			return conn, false, nil
		}
	}
	if err != nil {
		return store.Connection{}, false, fmt.Errorf("create connection %s for location %s: %w", id, locationID, err)
	}
	return conn, true, nil
}
