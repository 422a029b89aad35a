package store

import (
	"context"

	"github.com/hlrz/hlrz/internal/secrets"
)

// TableCount is a number of rows of one table.
type TableCount struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// ConnectionRemover deletes a connection and everything stored for it: its tokens, links,
// ledger, cursors, observations, match keys and dead letters. Inbox rows are not the
// connection's (they belong to a location) and age out under the retention settings.
type ConnectionRemover interface {
	// ConnectionFootprint counts, by table, the rows DeleteConnection would remove.
	ConnectionFootprint(ctx context.Context, connectionID string) ([]TableCount, error)
	// DeleteConnection removes them in one transaction and returns what it removed.
	DeleteConnection(ctx context.Context, connectionID string) ([]TableCount, error)
}

// ResealCount is what Reseal did to one table's sealed values.
type ResealCount struct {
	Table string `json:"table"`
	// Resealed values were sealed under an older key (or not at all) and are now sealed
	// under the primary key; Current ones already were.
	Resealed int64 `json:"resealed"`
	Current  int64 `json:"current"`
}

// Resealer re-encrypts every sealed value (tokens, company tokens, inbox bodies, ledger
// snapshots, observations, dead-letter inputs) under the keyring's primary key, after a
// key rotation. Running it again changes nothing.
type Resealer interface {
	Reseal(ctx context.Context) ([]ResealCount, error)
}

// ResealBlob opens a sealed blob (or takes a blob written before encryption as it is) and
// seals it under kr's primary key.
func ResealBlob(kr *secrets.Keyring, b, aad []byte) ([]byte, error) {
	plain, err := OpenBlob(kr, b, aad)
	if err != nil {
		return nil, err
	}
	return SealBlob(kr, plain, aad), nil
}

// BlobPrefix is how every blob sealed under kr's primary key begins.
func BlobPrefix(kr *secrets.Keyring) []byte {
	id := kr.PrimaryID()
	out := append([]byte(nil), blobMagic...)
	out = append(out, byte(len(id)))
	return append(out, id...)
}

// ResealString is ResealBlob for a value sealed with secrets.Keyring.SealString.
func ResealString(kr *secrets.Keyring, v string, aad []byte) (string, error) {
	plain, err := kr.OpenString(v, aad)
	if err != nil {
		return "", err
	}
	return kr.SealString(plain, aad), nil
}

// TokenAAD binds a token's sealed secrets to its row (SealToken).
func TokenAAD(connectionID string, kind TokenKind) []byte { return tokenAAD(connectionID, kind) }

// CompanyTokenAAD binds a company token's sealed secrets to its company (SealCompanyToken).
func CompanyTokenAAD(companyID string) []byte { return companyAAD(companyID) }
