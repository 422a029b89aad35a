package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Links and the ledger, shared by the SQL drivers (see SQLStore).

const linkCols = `connection_id, id, ghl_contact_id, rz_contact_id, deleted, created_at, updated_at`

func scanLink(row Scanner) (Link, error) {
	var l Link
	var ghl, rz *string
	err := row.Scan(&l.ConnectionID, &l.ID, &ghl, &rz, &l.Deleted, &l.CreatedAt, &l.UpdatedAt)
	if ghl != nil {
		l.GHLContactID = *ghl
	}
	if rz != nil {
		l.RZContactID = *rz
	}
	return l, err
}

// findLink scans a link that may not exist.
func findLink(row Scanner) (FoundLink, error) {
	l, err := scanLink(row)
	if errors.Is(err, sql.ErrNoRows) {
		return FoundLink{}, nil
	}
	return FoundLink{Link: l, Found: err == nil}, err
}

// EnsureLink returns the link owning contactID on side, creating it if needed.
func (s *SQLStore) EnsureLink(ctx context.Context, connID string, side Side, contactID string) (Link, bool, error) {
	col, err := CheckEnsureLink(side, contactID)
	if err != nil {
		return Link{}, false, err
	}
	// The unique index decides the race: exactly one insert wins, everyone reads the winner.
	n, err := s.db.Exec(ctx, `INSERT INTO links (connection_id, id, `+col+`, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING`, connID, NewID(), contactID, Now())
	if s.d.IsFK(err) {
		return Link{}, false, NotFound("connection %s", connID)
	}
	if err != nil {
		return Link{}, false, fmt.Errorf("ensure link for %s contact: %w", side, err)
	}
	l, err := s.LinkBy(ctx, connID, side, contactID)
	return l, n == 1, err
}

// lockLinks serialises the pairings and claims of one connection inside tx (Dialect.LockLinks).
func (s *SQLStore) lockLinks(ctx context.Context, tx DB, connID string) error {
	if s.d.LockLinks == "" {
		return nil
	}
	_, err := tx.Exec(ctx, s.d.LockLinks, connID)
	return err
}

// PairLink links a HighLevel and a Referrizer contact as one person.
func (s *SQLStore) PairLink(ctx context.Context, connID, ghlID, rzID string) (Link, error) {
	if err := CheckPairLink(ghlID, rzID); err != nil {
		return Link{}, err
	}
	var id string
	err := s.db.InTx(ctx, func(tx DB) error {
		// Two pairings touching the same ids must not both decide to insert.
		if err := s.lockLinks(ctx, tx, connID); err != nil {
			return err
		}
		plan, err := planPair(ctx, tx, connID, ghlID, rzID)
		if err != nil {
			return err
		}
		id = plan.LinkID
		return writePair(ctx, tx, connID, ghlID, rzID, plan)
	})
	if s.d.IsFK(err) {
		return Link{}, NotFound("connection %s", connID)
	}
	if err != nil {
		return Link{}, fmt.Errorf("pair link: %w", err)
	}
	return s.GetLink(ctx, connID, id)
}

// planPair reads the links owning either id and decides the pairing (PlanPair).
func planPair(ctx context.Context, tx DB, connID, ghlID, rzID string) (PairPlan, error) {
	byGHL, err := findLink(tx.QueryRow(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = $1 AND ghl_contact_id = $2`, connID, ghlID))
	if err != nil {
		return PairPlan{}, err
	}
	byRZ, err := findLink(tx.QueryRow(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = $1 AND rz_contact_id = $2`, connID, rzID))
	if err != nil {
		return PairPlan{}, err
	}
	return PlanPair(byGHL, byRZ)
}

// writePair writes what plan asks for.
func writePair(ctx context.Context, tx DB, connID, ghlID, rzID string, plan PairPlan) error {
	var err error
	switch {
	case plan.Insert:
		_, err = tx.Exec(ctx, `INSERT INTO links (connection_id, id, ghl_contact_id, rz_contact_id, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)`, connID, plan.LinkID, ghlID, rzID, Now())
	case plan.Attach == SideRZ:
		_, err = tx.Exec(ctx, `UPDATE links SET rz_contact_id = $1, updated_at = $2 WHERE connection_id = $3 AND id = $4`, rzID, Now(), connID, plan.LinkID)
	case plan.Attach == SideGHL:
		_, err = tx.Exec(ctx, `UPDATE links SET ghl_contact_id = $1, updated_at = $2 WHERE connection_id = $3 AND id = $4`, ghlID, Now(), connID, plan.LinkID)
	}
	return err
}

// GetLink reads a link by id.
func (s *SQLStore) GetLink(ctx context.Context, connID, linkID string) (Link, error) {
	l, err := scanLink(s.db.QueryRow(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = $1 AND id = $2`, connID, linkID))
	return OneRow(l, err, sql.ErrNoRows, "link %s/%s", connID, linkID)
}

// LinkBy finds the link owning a contact id on one side.
func (s *SQLStore) LinkBy(ctx context.Context, connID string, side Side, contactID string) (Link, error) {
	col, err := ContactColumn(side)
	if err != nil {
		return Link{}, err
	}
	l, err := scanLink(s.db.QueryRow(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = $1 AND `+col+` = $2`, connID, contactID))
	return OneRow(l, err, sql.ErrNoRows, "link for %s contact in connection %s", side, connID)
}

// AttachContact sets the link's contact id on side.
func (s *SQLStore) AttachContact(ctx context.Context, connID, linkID string, side Side, contactID string) (Link, error) {
	col, err := ContactColumn(side)
	if err != nil {
		return Link{}, err
	}
	n, err := s.db.Exec(ctx, `UPDATE links SET `+col+` = $1, updated_at = $2 WHERE connection_id = $3 AND id = $4`,
		nullString(contactID), Now(), connID, linkID)
	if s.d.IsUnique(err) {
		return Link{}, fmt.Errorf("attach %s contact to link %s: another link owns it: %w", side, linkID, ErrConflict)
	}
	if err != nil {
		return Link{}, fmt.Errorf("attach %s contact to link %s: %w", side, linkID, err)
	}
	if err := changedOne(n, "link %s/%s", connID, linkID); err != nil {
		return Link{}, err
	}
	return s.GetLink(ctx, connID, linkID)
}

// ClaimContact attaches a contact we created, absorbing a one-sided link made for it meanwhile.
// Where a link can be inserted for the contact between our check and our update (the relay
// racing us on PostgreSQL; SQLite's write lock rules it out), it surfaces as a unique
// violation; the claim then runs again and absorbs it.
func (s *SQLStore) ClaimContact(ctx context.Context, connID, linkID string, side Side, contactID string) (Link, string, error) {
	for attempt := 0; ; attempt++ {
		l, absorbed, err := s.claimContact(ctx, connID, linkID, side, contactID)
		if !s.d.IsUnique(err) || attempt == 4 {
			return l, absorbed, err
		}
	}
}

func (s *SQLStore) claimContact(ctx context.Context, connID, linkID string, side Side, contactID string) (Link, string, error) {
	col, err := ContactColumn(side)
	if err != nil {
		return Link{}, "", err
	}
	absorbed := ""
	err = s.db.InTx(ctx, func(tx DB) error {
		// Two one-sided links claiming each other's contact must not both absorb (or deadlock).
		if err := s.lockLinks(ctx, tx, connID); err != nil {
			return err
		}
		owner, err := findLink(tx.QueryRow(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = $1 AND `+col+` = $2`+s.d.ForUpdate, connID, contactID))
		if err != nil {
			return err
		}
		plan, err := PlanClaim(owner, linkID, side)
		if err != nil || plan.Done {
			return err
		}
		absorbed = plan.Absorb
		return writeClaim(ctx, tx, connID, linkID, col, contactID, plan)
	})
	if err != nil {
		return Link{}, "", fmt.Errorf("claim %s contact for link %s: %w", side, linkID, err)
	}
	l, err := s.GetLink(ctx, connID, linkID)
	return l, absorbed, err
}

// writeClaim deletes the link plan absorbs, if any, and attaches contactID (in column col)
// to linkID.
func writeClaim(ctx context.Context, tx DB, connID, linkID, col, contactID string, plan ClaimPlan) error {
	if plan.Absorb != "" {
		if _, err := tx.Exec(ctx, `DELETE FROM links WHERE connection_id = $1 AND id = $2`, connID, plan.Absorb); err != nil {
			return fmt.Errorf("absorb link %s: %w", plan.Absorb, err)
		}
	}
	n, err := tx.Exec(ctx, `UPDATE links SET `+col+` = $1, updated_at = $2 WHERE connection_id = $3 AND id = $4`, contactID, Now(), connID, linkID)
	if err != nil {
		return err
	}
	return changedOne(n, "link %s/%s", connID, linkID)
}

// MarkLinkDeleted flags a link whose person was deleted on a side.
func (s *SQLStore) MarkLinkDeleted(ctx context.Context, connID, linkID string, deleted bool) error {
	n, err := s.db.Exec(ctx, `UPDATE links SET deleted = $1, updated_at = $2 WHERE connection_id = $3 AND id = $4`,
		deleted, Now(), connID, linkID)
	if err != nil {
		return fmt.Errorf("mark link %s deleted: %w", linkID, err)
	}
	return changedOne(n, "link %s/%s", connID, linkID)
}

// ListLinks pages links by id.
func (s *SQLStore) ListLinks(ctx context.Context, connID, afterID string, limit int) ([]Link, error) {
	out, err := queryAll(ctx, s.db, scanLink, `SELECT `+linkCols+` FROM links WHERE connection_id = $1 AND id > $2 ORDER BY id LIMIT $3`, connID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	return out, nil
}

// CountLinks counts a connection's links.
func (s *SQLStore) CountLinks(ctx context.Context, connID string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM links WHERE connection_id = $1`, connID).Scan(&n)
	return n, err
}

// ---- ledger ----

const ledgerCols = `snapshot, hash, ghl_hash, rz_hash, updated_at`

// GetLedger reads the ledger entry of one object of one link.
func (s *SQLStore) GetLedger(ctx context.Context, connID, linkID, object string) (LedgerEntry, error) {
	e, err := s.scanLedger(LedgerEntry{ConnectionID: connID, LinkID: linkID}, LedgerObject)(s.db.QueryRow(ctx,
		`SELECT object, `+ledgerCols+` FROM ledger WHERE connection_id = $1 AND link_id = $2 AND object = $3`, connID, linkID, object))
	return OneRow(e, err, sql.ErrNoRows, "ledger %s/%s/%s", connID, linkID, object)
}

// PutLedger writes a ledger entry.
func (s *SQLStore) PutLedger(ctx context.Context, e LedgerEntry) error {
	_, err := s.db.Exec(ctx, `INSERT INTO ledger (connection_id, link_id, object, snapshot, hash, ghl_hash, rz_hash, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (connection_id, link_id, object) DO UPDATE SET snapshot = excluded.snapshot, hash = excluded.hash,
			ghl_hash = excluded.ghl_hash, rz_hash = excluded.rz_hash, updated_at = excluded.updated_at`,
		e.ConnectionID, e.LinkID, e.Object, SealBlob(s.kr, e.Snapshot, LedgerAAD(e.ConnectionID, e.LinkID, e.Object)), e.Hash, e.GHLHash, e.RZHash, Now())
	if s.d.IsFK(err) {
		return NotFound("link %s/%s", e.ConnectionID, e.LinkID)
	}
	if err != nil {
		return fmt.Errorf("put ledger %s/%s/%s: %w", e.ConnectionID, e.LinkID, e.Object, err)
	}
	return nil
}

// SideHashes maps linked contact ids on side to their ledger hash for object.
func (s *SQLStore) SideHashes(ctx context.Context, connID string, side Side, object string) (map[string]string, error) {
	col, err := ContactColumn(side)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT l.`+col+`, e.`+HashColumn(side)+` FROM links l JOIN ledger e
		ON e.connection_id = l.connection_id AND e.link_id = l.id
		WHERE l.connection_id = $1 AND e.object = $2 AND l.`+col+` IS NOT NULL`, connID, object)
	if err != nil {
		return nil, fmt.Errorf("side hashes: %w", err)
	}
	defer rows.Close()
	return CollectMap[string, string](rows)
}

// LedgerEntries pages a connection's entries of one object by link id.
func (s *SQLStore) LedgerEntries(ctx context.Context, connID, object, afterLinkID string, limit int) ([]LedgerEntry, error) {
	out, err := queryAll(ctx, s.db, s.scanLedger(LedgerEntry{ConnectionID: connID, Object: object}, LedgerLinkID),
		`SELECT link_id, `+ledgerCols+` FROM ledger
		WHERE connection_id = $1 AND object = $2 AND link_id > $3 ORDER BY link_id LIMIT $4`, connID, object, afterLinkID, limit)
	if err != nil {
		return nil, fmt.Errorf("ledger entries: %w", err)
	}
	return out, nil
}

// LedgerEntriesOf pages one link's entries whose object starts with prefix. substr and
// length count characters on both databases.
func (s *SQLStore) LedgerEntriesOf(ctx context.Context, connID, linkID, prefix, afterObject string, limit int) ([]LedgerEntry, error) {
	out, err := queryAll(ctx, s.db, s.scanLedger(LedgerEntry{ConnectionID: connID, LinkID: linkID}, LedgerObject),
		`SELECT object, `+ledgerCols+` FROM ledger
		WHERE connection_id = $1 AND link_id = $2 AND substr(object, 1, length($3)) = $3 AND object > $4 ORDER BY object LIMIT $5`,
		connID, linkID, prefix, afterObject, limit)
	if err != nil {
		return nil, fmt.Errorf("ledger entries of %s: %w", linkID, err)
	}
	return out, nil
}

// scanLedger scans a ledger row (a key column, the one key picks, then ledgerCols) onto a
// copy of base and opens its snapshot.
func (s *SQLStore) scanLedger(base LedgerEntry, key func(*LedgerEntry) *string) func(Scanner) (LedgerEntry, error) {
	return func(row Scanner) (LedgerEntry, error) {
		e := base
		if err := row.Scan(key(&e), &e.Snapshot, &e.Hash, &e.GHLHash, &e.RZHash, &e.UpdatedAt); err != nil {
			return e, err
		}
		err := OpenSnapshot(s.kr, &e)
		return e, err
	}
}
