package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/hlrz/hlrz/internal/store"
)

var (
	_ store.Resealer          = (*Store)(nil)
	_ store.ConnectionRemover = (*Store)(nil)
)

// sealedCol is one column holding sealed values, with the columns its AAD is made of.
type sealedCol struct {
	table, col string
	ids        string // text columns, comma-separated, that bind the value to its row
	text       bool   // sealed with Keyring.SealString (text); otherwise a blob (bytea)
	aad        func(ids []string) []byte
}

var sealedCols = []sealedCol{
	{"tokens", "access_sealed", "connection_id, kind", true, tokenAAD},
	{"tokens", "refresh_sealed", "connection_id, kind", true, tokenAAD},
	{"company_tokens", "access_sealed", "company_id", true, companyAAD},
	{"company_tokens", "refresh_sealed", "company_id", true, companyAAD},
	{"inbox", "body", "dedupe_key", false, func(v []string) []byte { return store.InboxAAD(v[0]) }},
	{"ledger", "snapshot", "connection_id, link_id, object", false, func(v []string) []byte { return store.LedgerAAD(v[0], v[1], v[2]) }},
	{"observations", "body", "connection_id, side, contact_id", false, func(v []string) []byte {
		return store.ObservationAAD(v[0], store.Side(v[1]), v[2])
	}},
	{"dead_letters", "input", "connection_id, kind", false, func(v []string) []byte { return store.DeadLetterAAD(v[0], v[1]) }},
}

func tokenAAD(v []string) []byte   { return store.TokenAAD(v[0], store.TokenKind(v[1])) }
func companyAAD(v []string) []byte { return store.CompanyTokenAAD(v[0]) }

// stale is the condition of a value not sealed under the primary key; $1 is the prefix
// such values lack.
func (c sealedCol) stale() string {
	if c.text {
		return c.col + ` <> '' AND left(` + c.col + `, length($1::text)) <> $1::text`
	}
	return c.col + ` IS NOT NULL AND length(` + c.col + `) > 0 AND substring(` + c.col + ` from 1 for length($1::bytea)) <> $1::bytea`
}

func (c sealedCol) prefix(s *Store) any {
	if c.text {
		return s.kr.PrimaryID() + "."
	}
	return store.BlobPrefix(s.kr)
}

// Reseal re-encrypts every sealed value under the primary key, in batches; each row is
// rewritten only if it still holds the value read, so a concurrent write is never undone.
func (s *Store) Reseal(ctx context.Context) ([]store.ResealCount, error) {
	var out []store.ResealCount
	for _, c := range sealedCols {
		n, err := s.resealCol(ctx, c)
		if err != nil {
			return out, err
		}
		var current int64
		err = s.pool.QueryRow(ctx, `SELECT count(*) FROM `+c.table+` WHERE `+c.col+` IS NOT NULL AND length(`+c.col+`) > 0 AND NOT (`+c.stale()+`)`,
			c.prefix(s)).Scan(&current)
		if err != nil {
			return out, fmt.Errorf("reseal %s.%s: count: %w", c.table, c.col, err)
		}
		if len(out) > 0 && out[len(out)-1].Table == c.table {
			out[len(out)-1].Resealed += n
			out[len(out)-1].Current += current - n
			continue
		}
		out = append(out, store.ResealCount{Table: c.table, Resealed: n, Current: current - n})
	}
	return out, nil
}

func (s *Store) resealCol(ctx context.Context, c sealedCol) (int64, error) {
	var total int64
	for {
		rows, err := s.pool.Query(ctx, `SELECT ctid::text, `+c.ids+`, `+c.col+` FROM `+c.table+` WHERE `+c.stale()+` LIMIT 500`, c.prefix(s))
		if err != nil {
			return total, fmt.Errorf("reseal %s.%s: read: %w", c.table, c.col, err)
		}
		type row struct {
			tid string
			ids []string
			val any
		}
		var batch []row
		for rows.Next() {
			r, dst := row{}, []any{new(string)}
			nIDs := strings.Count(c.ids, ",") + 1
			r.ids = make([]string, nIDs)
			for i := range r.ids {
				dst = append(dst, &r.ids[i])
			}
			var text string
			var blob []byte
			if c.text {
				dst = append(dst, &text)
			} else {
				dst = append(dst, &blob)
			}
			if err := rows.Scan(dst...); err != nil {
				rows.Close()
				return total, fmt.Errorf("reseal %s.%s: scan: %w", c.table, c.col, err)
			}
			r.tid = *dst[0].(*string)
			if r.val = any(blob); c.text {
				r.val = text
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("reseal %s.%s: read: %w", c.table, c.col, err)
		}
		var done int64
		for _, r := range batch {
			n, err := s.resealRow(ctx, c, r.tid, r.ids, r.val)
			if err != nil {
				return total, err
			}
			done += n
		}
		total += done
		if len(batch) == 0 || done == 0 {
			return total, nil
		}
	}
}

func (s *Store) resealRow(ctx context.Context, c sealedCol, tid string, ids []string, old any) (int64, error) {
	var next any
	var err error
	if c.text {
		next, err = store.ResealString(s.kr, old.(string), c.aad(ids))
	} else {
		next, err = store.ResealBlob(s.kr, old.([]byte), c.aad(ids))
	}
	if err != nil {
		return 0, fmt.Errorf("reseal %s.%s: %w", c.table, c.col, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE `+c.table+` SET `+c.col+` = $1 WHERE ctid = $2::tid AND `+c.col+` = $3`, next, tid, old)
	if err != nil {
		return 0, fmt.Errorf("reseal %s.%s: write: %w", c.table, c.col, err)
	}
	return tag.RowsAffected(), nil
}

// connectionTables are the tables holding a connection's rows, children first.
var connectionTables = []struct{ table, col string }{
	{"ledger", "connection_id"}, {"links", "connection_id"}, {"tokens", "connection_id"}, {"cursors", "connection_id"},
	{"observations", "connection_id"}, {"match_keys", "connection_id"}, {"dead_letters", "connection_id"}, {"connections", "id"},
}

// ConnectionFootprint counts what DeleteConnection would remove.
func (s *Store) ConnectionFootprint(ctx context.Context, id string) ([]store.TableCount, error) {
	var out []store.TableCount
	for _, t := range connectionTables {
		var n int64
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+t.table+` WHERE `+t.col+` = $1`, id).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s of connection %s: %w", t.table, id, err)
		}
		out = append(out, store.TableCount{Table: t.table, Rows: n})
	}
	return out, nil
}

// DeleteConnection removes a connection and everything stored for it, in one transaction.
func (s *Store) DeleteConnection(ctx context.Context, id string) ([]store.TableCount, error) {
	var out []store.TableCount
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = out[:0]
		for _, t := range connectionTables {
			tag, err := tx.Exec(ctx, `DELETE FROM `+t.table+` WHERE `+t.col+` = $1`, id)
			if err != nil {
				return fmt.Errorf("delete %s of connection %s: %w", t.table, id, err)
			}
			out = append(out, store.TableCount{Table: t.table, Rows: tag.RowsAffected()})
		}
		if out[len(out)-1].Rows == 0 {
			return notFound("connection %s", id)
		}
		return nil
	})
	return out, err
}
