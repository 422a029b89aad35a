package store

import (
	"context"
	"fmt"

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

// SealedColumn is one column holding sealed values, with the columns (text) its AAD is made
// of, in order.
type SealedColumn struct {
	Table, Column string
	IDs           []string
	Text          bool // sealed with Keyring.SealString; otherwise a blob (SealBlob)
	AAD           func(ids []string) []byte
}

// SealedColumns are every sealed column of both stores' schemas.
var SealedColumns = []SealedColumn{
	{"tokens", "access_sealed", []string{"connection_id", "kind"}, true, tokenRowAAD},
	{"tokens", "refresh_sealed", []string{"connection_id", "kind"}, true, tokenRowAAD},
	{"company_tokens", "access_sealed", []string{"company_id"}, true, companyRowAAD},
	{"company_tokens", "refresh_sealed", []string{"company_id"}, true, companyRowAAD},
	{"inbox", "body", []string{"dedupe_key"}, false, func(v []string) []byte { return InboxAAD(v[0]) }},
	{"ledger", "snapshot", []string{"connection_id", "link_id", "object"}, false, func(v []string) []byte { return LedgerAAD(v[0], v[1], v[2]) }},
	{"observations", "body", []string{"connection_id", "side", "contact_id"}, false, func(v []string) []byte {
		return ObservationAAD(v[0], Side(v[1]), v[2])
	}},
	{"dead_letters", "input", []string{"connection_id", "kind"}, false, func(v []string) []byte { return DeadLetterAAD(v[0], v[1]) }},
}

func tokenRowAAD(v []string) []byte   { return tokenAAD(v[0], TokenKind(v[1])) }
func companyRowAAD(v []string) []byte { return companyAAD(v[0]) }

// Prefix is how a value of c sealed under kr's primary key begins.
func (c SealedColumn) Prefix(kr *secrets.Keyring) []byte {
	if c.Text {
		return []byte(kr.PrimaryID() + ".")
	}
	return BlobPrefix(kr)
}

// Reseal re-seals one value of c under kr's primary key.
func (c SealedColumn) Reseal(kr *secrets.Keyring, ids []string, v []byte) ([]byte, error) {
	if c.Text {
		s, err := ResealString(kr, string(v), c.AAD(ids))
		return []byte(s), err
	}
	return ResealBlob(kr, v, c.AAD(ids))
}

// ConnectionTables are the tables holding a connection's rows (ConnectionRemover), each
// with its connection column, children first.
var ConnectionTables = [][2]string{
	{"ledger", "connection_id"}, {"links", "connection_id"}, {"tokens", "connection_id"}, {"cursors", "connection_id"},
	{"observations", "connection_id"}, {"match_keys", "connection_id"}, {"dead_letters", "connection_id"}, {"connections", "id"},
}

// AddResealCount adds one column's figures to the per-table counts.
func AddResealCount(out []ResealCount, table string, resealed, current int64) []ResealCount {
	if len(out) > 0 && out[len(out)-1].Table == table {
		out[len(out)-1].Resealed += resealed
		out[len(out)-1].Current += current
		return out
	}
	return append(out, ResealCount{Table: table, Resealed: resealed, Current: current})
}

var _ ConnectionRemover = (*SQLStore)(nil)

// ResealColumns is every driver's Reseal: it reseals each sealed column with the driver's
// reseal and adds up the figures by table.
func ResealColumns(ctx context.Context, reseal func(context.Context, SealedColumn) (resealed, current int64, err error)) ([]ResealCount, error) {
	var out []ResealCount
	for _, c := range SealedColumns {
		resealed, current, err := reseal(ctx, c)
		if err != nil {
			return out, err
		}
		out = AddResealCount(out, c.Table, resealed, current)
	}
	return out, nil
}

// SealedRow is one value of a sealed column as a driver's reseal reads it: Key finds the
// row again (a ctid, a rowid), IDs are its AAD columns (SealedColumn.IDs).
type SealedRow[K any] struct {
	Key K
	IDs []string
	Val []byte
}

// ScanSealedRow scans a row of (key, value, c.IDs...).
func ScanSealedRow[K any](row Scanner, c SealedColumn) (SealedRow[K], error) {
	r := SealedRow[K]{IDs: make([]string, len(c.IDs))}
	dst := []any{&r.Key, &r.Val}
	for i := range r.IDs {
		dst = append(dst, &r.IDs[i])
	}
	if err := row.Scan(dst...); err != nil {
		return r, fmt.Errorf("reseal %s.%s: scan: %w", c.Table, c.Column, err)
	}
	return r, nil
}
