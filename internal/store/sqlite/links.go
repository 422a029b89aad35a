package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hlrz/hlrz/internal/store"
)

const ledgerCols = `snapshot, hash, ghl_hash, rz_hash, updated_at`

const linkCols = `connection_id, id, ghl_contact_id, rz_contact_id, deleted, created_at, updated_at`

func scanLink(row store.Scanner) (store.Link, error) {
	var l store.Link
	var ghl, rz sql.NullString
	var created, updated int64
	err := row.Scan(&l.ConnectionID, &l.ID, &ghl, &rz, &l.Deleted, &created, &updated)
	l.GHLContactID, l.RZContactID = ghl.String, rz.String
	l.CreatedAt, l.UpdatedAt = fromMicros(created), fromMicros(updated)
	return l, err
}

// findLink scans a link that may not exist.
func findLink(row store.Scanner) (store.FoundLink, error) {
	l, err := scanLink(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.FoundLink{}, nil
	}
	return store.FoundLink{Link: l, Found: err == nil}, err
}

// EnsureLink returns the link owning contactID on side, creating it if needed.
func (s *Store) EnsureLink(ctx context.Context, connID string, side store.Side, contactID string) (store.Link, bool, error) {
	col, err := store.CheckEnsureLink(side, contactID)
	if err != nil {
		return store.Link{}, false, err
	}
	now := micros(store.Now())
	// The unique index decides the race: exactly one insert wins, everyone reads the winner.
	res, err := s.db.ExecContext(ctx, `INSERT INTO links (connection_id, id, `+col+`, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, connID, store.NewID(), contactID, now, now)
	if err != nil {
		if errors.Is(s.checkConn(ctx, connID), store.ErrNotFound) {
			return store.Link{}, false, notFound("connection %s", connID)
		}
		return store.Link{}, false, fmt.Errorf("ensure link for %s contact: %w", side, err)
	}
	n, _ := res.RowsAffected()
	l, err := s.LinkBy(ctx, connID, side, contactID)
	return l, n == 1, err
}

func (s *Store) checkConn(ctx context.Context, connID string) error {
	_, err := s.GetConnection(ctx, connID)
	return err
}

// PairLink links a HighLevel and a Referrizer contact as one person.
func (s *Store) PairLink(ctx context.Context, connID, ghlID, rzID string) (store.Link, error) {
	if err := store.CheckPairLink(ghlID, rzID); err != nil {
		return store.Link{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Link{}, fmt.Errorf("pair link: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	byGHL, err := findLink(tx.QueryRowContext(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = ? AND ghl_contact_id = ?`, connID, ghlID))
	if err != nil {
		return store.Link{}, fmt.Errorf("pair link: %w", err)
	}
	byRZ, err := findLink(tx.QueryRowContext(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = ? AND rz_contact_id = ?`, connID, rzID))
	if err != nil {
		return store.Link{}, fmt.Errorf("pair link: %w", err)
	}
	plan, err := store.PlanPair(byGHL, byRZ)
	if err != nil {
		return store.Link{}, fmt.Errorf("pair link: %w", err)
	}
	id, now := plan.LinkID, micros(store.Now())
	switch {
	case plan.Insert:
		_, err = tx.ExecContext(ctx, `INSERT INTO links (connection_id, id, ghl_contact_id, rz_contact_id, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, connID, id, ghlID, rzID, now, now)
	case plan.Attach == store.SideRZ:
		_, err = tx.ExecContext(ctx, `UPDATE links SET rz_contact_id = ?, updated_at = ? WHERE connection_id = ? AND id = ?`, rzID, now, connID, id)
	case plan.Attach == store.SideGHL:
		_, err = tx.ExecContext(ctx, `UPDATE links SET ghl_contact_id = ?, updated_at = ? WHERE connection_id = ? AND id = ?`, ghlID, now, connID, id)
	}
	if err != nil {
		return store.Link{}, fmt.Errorf("pair link: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return store.Link{}, fmt.Errorf("pair link: commit: %w", err)
	}
	return s.GetLink(ctx, connID, id)
}

// GetLink reads a link by id.
func (s *Store) GetLink(ctx context.Context, connID, linkID string) (store.Link, error) {
	l, err := scanLink(s.db.QueryRowContext(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = ? AND id = ?`, connID, linkID))
	return store.OneRow(l, err, sql.ErrNoRows, "link %s/%s", connID, linkID)
}

// LinkBy finds the link owning a contact id on one side.
func (s *Store) LinkBy(ctx context.Context, connID string, side store.Side, contactID string) (store.Link, error) {
	col, err := store.ContactColumn(side)
	if err != nil {
		return store.Link{}, err
	}
	l, err := scanLink(s.db.QueryRowContext(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = ? AND `+col+` = ?`, connID, contactID))
	return store.OneRow(l, err, sql.ErrNoRows, "link for %s contact in connection %s", side, connID)
}

// AttachContact sets the link's contact id on side.
func (s *Store) AttachContact(ctx context.Context, connID, linkID string, side store.Side, contactID string) (store.Link, error) {
	col, err := store.ContactColumn(side)
	if err != nil {
		return store.Link{}, err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE links SET `+col+` = ?, updated_at = ? WHERE connection_id = ? AND id = ?`,
		nullString(contactID), micros(store.Now()), connID, linkID)
	if isUnique(err) {
		return store.Link{}, fmt.Errorf("attach %s contact to link %s: another link owns it: %w", side, linkID, store.ErrConflict)
	}
	if err != nil {
		return store.Link{}, fmt.Errorf("attach %s contact to link %s: %w", side, linkID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.Link{}, notFound("link %s/%s", connID, linkID)
	}
	return s.GetLink(ctx, connID, linkID)
}

// ClaimContact attaches a contact we created, absorbing a one-sided link made for it meanwhile.
func (s *Store) ClaimContact(ctx context.Context, connID, linkID string, side store.Side, contactID string) (store.Link, string, error) {
	col, err := store.ContactColumn(side)
	if err != nil {
		return store.Link{}, "", err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Link{}, "", fmt.Errorf("claim contact: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	owner, err := findLink(tx.QueryRowContext(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = ? AND `+col+` = ?`, connID, contactID))
	if err != nil {
		return store.Link{}, "", fmt.Errorf("claim contact: %w", err)
	}
	plan, err := store.PlanClaim(owner, linkID, side)
	if err != nil {
		return store.Link{}, "", fmt.Errorf("claim %s contact for link %s: %w", side, linkID, err)
	}
	if plan.Done {
		return owner.Link, "", tx.Commit()
	}
	if plan.Absorb != "" {
		if _, err := tx.ExecContext(ctx, `DELETE FROM links WHERE connection_id = ? AND id = ?`, connID, plan.Absorb); err != nil {
			return store.Link{}, "", fmt.Errorf("claim contact: absorb link %s: %w", plan.Absorb, err)
		}
	}
	// BEGIN IMMEDIATE holds the write lock from the SELECT on: nobody can insert a link
	// for the contact in between, so no retry is needed here.
	res, err := tx.ExecContext(ctx, `UPDATE links SET `+col+` = ?, updated_at = ? WHERE connection_id = ? AND id = ?`, contactID, micros(store.Now()), connID, linkID)
	if err != nil {
		return store.Link{}, "", fmt.Errorf("claim contact: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.Link{}, "", notFound("link %s/%s", connID, linkID)
	}
	if err := tx.Commit(); err != nil {
		return store.Link{}, "", fmt.Errorf("claim contact: commit: %w", err)
	}
	l, err := s.GetLink(ctx, connID, linkID)
	return l, plan.Absorb, err
}

// MarkLinkDeleted flags a link whose person was deleted on a side.
func (s *Store) MarkLinkDeleted(ctx context.Context, connID, linkID string, deleted bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE links SET deleted = ?, updated_at = ? WHERE connection_id = ? AND id = ?`,
		deleted, micros(store.Now()), connID, linkID)
	if err != nil {
		return fmt.Errorf("mark link %s deleted: %w", linkID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("link %s/%s", connID, linkID)
	}
	return nil
}

// ListLinks pages links by id.
func (s *Store) ListLinks(ctx context.Context, connID, afterID string, limit int) ([]store.Link, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = ? AND id > ? ORDER BY id LIMIT ?`, connID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	defer rows.Close()
	return store.CollectRows(rows, scanLink)
}

// CountLinks counts a connection's links.
func (s *Store) CountLinks(ctx context.Context, connID string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM links WHERE connection_id = ?`, connID).Scan(&n)
	return n, err
}

// ---- ledger ----

// GetLedger reads the ledger entry of one object of one link.
func (s *Store) GetLedger(ctx context.Context, connID, linkID, object string) (store.LedgerEntry, error) {
	e, err := s.scanLedger(store.LedgerEntry{ConnectionID: connID, LinkID: linkID}, store.LedgerObject)(s.db.QueryRowContext(ctx,
		`SELECT object, `+ledgerCols+` FROM ledger WHERE connection_id = ? AND link_id = ? AND object = ?`, connID, linkID, object))
	return store.OneRow(e, err, sql.ErrNoRows, "ledger %s/%s/%s", connID, linkID, object)
}

// PutLedger writes a ledger entry.
func (s *Store) PutLedger(ctx context.Context, e store.LedgerEntry) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO ledger (connection_id, link_id, object, snapshot, hash, ghl_hash, rz_hash, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (connection_id, link_id, object) DO UPDATE SET snapshot = excluded.snapshot, hash = excluded.hash,
			ghl_hash = excluded.ghl_hash, rz_hash = excluded.rz_hash, updated_at = excluded.updated_at`,
		e.ConnectionID, e.LinkID, e.Object, store.SealBlob(s.kr, e.Snapshot, store.LedgerAAD(e.ConnectionID, e.LinkID, e.Object)), e.Hash, e.GHLHash, e.RZHash, micros(store.Now()))
	if isFK(err) {
		return notFound("link %s/%s", e.ConnectionID, e.LinkID)
	}
	if err != nil {
		return fmt.Errorf("put ledger %s/%s/%s: %w", e.ConnectionID, e.LinkID, e.Object, err)
	}
	return nil
}

// SideHashes maps linked contact ids on side to their ledger hash for object.
func (s *Store) SideHashes(ctx context.Context, connID string, side store.Side, object string) (map[string]string, error) {
	col, err := store.ContactColumn(side)
	if err != nil {
		return nil, err
	}
	hashCol := store.HashColumn(side)
	rows, err := s.db.QueryContext(ctx, `SELECT l.`+col+`, e.`+hashCol+` FROM links l JOIN ledger e
		ON e.connection_id = l.connection_id AND e.link_id = l.id
		WHERE l.connection_id = ? AND e.object = ? AND l.`+col+` IS NOT NULL`, connID, object)
	if err != nil {
		return nil, fmt.Errorf("side hashes: %w", err)
	}
	defer rows.Close()
	return store.CollectMap[string, string](rows)
}

// LedgerEntries pages a connection's entries of one object by link id.
func (s *Store) LedgerEntries(ctx context.Context, connID, object, afterLinkID string, limit int) ([]store.LedgerEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT link_id, snapshot, hash, ghl_hash, rz_hash, updated_at FROM ledger
		WHERE connection_id = ? AND object = ? AND link_id > ? ORDER BY link_id LIMIT ?`, connID, object, afterLinkID, limit)
	if err != nil {
		return nil, fmt.Errorf("ledger entries: %w", err)
	}
	defer rows.Close()
	return store.CollectRows(rows, s.scanLedger(store.LedgerEntry{ConnectionID: connID, Object: object}, store.LedgerLinkID))
}

// LedgerEntriesOf pages one link's entries whose object starts with prefix.
func (s *Store) LedgerEntriesOf(ctx context.Context, connID, linkID, prefix, afterObject string, limit int) ([]store.LedgerEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT object, snapshot, hash, ghl_hash, rz_hash, updated_at FROM ledger
		WHERE connection_id = ? AND link_id = ? AND substr(object, 1, ?) = ? AND object > ? ORDER BY object LIMIT ?`,
		connID, linkID, len(prefix), prefix, afterObject, limit)
	if err != nil {
		return nil, fmt.Errorf("ledger entries of %s: %w", linkID, err)
	}
	defer rows.Close()
	return store.CollectRows(rows, s.scanLedger(store.LedgerEntry{ConnectionID: connID, LinkID: linkID}, store.LedgerObject))
}

// scanLedger scans a ledger row (a key column, the one key picks, then ledgerCols) onto a
// copy of base and opens its snapshot.
func (s *Store) scanLedger(base store.LedgerEntry, key func(*store.LedgerEntry) *string) func(store.Scanner) (store.LedgerEntry, error) {
	return func(row store.Scanner) (store.LedgerEntry, error) {
		e := base
		var updated int64
		err := row.Scan(key(&e), &e.Snapshot, &e.Hash, &e.GHLHash, &e.RZHash, &updated)
		e.UpdatedAt = fromMicros(updated)
		if err != nil {
			return e, err
		}
		err = store.OpenSnapshot(s.kr, &e)
		return e, err
	}
}
