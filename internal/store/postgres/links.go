package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hlrz/hlrz/internal/store"
)

const ledgerCols = `snapshot, hash, ghl_hash, rz_hash, updated_at`

const linkCols = `connection_id, id, ghl_contact_id, rz_contact_id, deleted, created_at, updated_at`

func scanLink(row store.Scanner) (store.Link, error) {
	var l store.Link
	var ghl, rz *string
	err := row.Scan(&l.ConnectionID, &l.ID, &ghl, &rz, &l.Deleted, &l.CreatedAt, &l.UpdatedAt)
	if ghl != nil {
		l.GHLContactID = *ghl
	}
	if rz != nil {
		l.RZContactID = *rz
	}
	utc(&l.CreatedAt)
	utc(&l.UpdatedAt)
	return l, err
}

// findLink scans a link that may not exist.
func findLink(row store.Scanner) (store.FoundLink, error) {
	l, err := scanLink(row)
	if errors.Is(err, pgx.ErrNoRows) {
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
	now := store.Now()
	// The unique index decides the race: exactly one insert wins, everyone reads the winner.
	tag, err := s.pool.Exec(ctx, `INSERT INTO links (connection_id, id, `+col+`, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING`, connID, store.NewID(), contactID, now)
	if isFK(err) {
		return store.Link{}, false, notFound("connection %s", connID)
	}
	if err != nil {
		return store.Link{}, false, fmt.Errorf("ensure link for %s contact: %w", side, err)
	}
	l, err := s.LinkBy(ctx, connID, side, contactID)
	return l, tag.RowsAffected() == 1, err
}

// PairLink links a HighLevel and a Referrizer contact as one person.
func (s *Store) PairLink(ctx context.Context, connID, ghlID, rzID string) (store.Link, error) {
	if err := store.CheckPairLink(ghlID, rzID); err != nil {
		return store.Link{}, err
	}
	var id string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialise pairing per connection: two pairings touching the same ids must not both
		// decide to insert.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('links/' || $1))`, connID); err != nil {
			return err
		}
		byGHL, err := findLink(tx.QueryRow(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = $1 AND ghl_contact_id = $2`, connID, ghlID))
		if err != nil {
			return err
		}
		byRZ, err := findLink(tx.QueryRow(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = $1 AND rz_contact_id = $2`, connID, rzID))
		if err != nil {
			return err
		}
		plan, err := store.PlanPair(byGHL, byRZ)
		if err != nil {
			return err
		}
		id = plan.LinkID
		now := store.Now()
		switch {
		case plan.Insert:
			_, err = tx.Exec(ctx, `INSERT INTO links (connection_id, id, ghl_contact_id, rz_contact_id, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $5)`, connID, id, ghlID, rzID, now)
		case plan.Attach == store.SideRZ:
			_, err = tx.Exec(ctx, `UPDATE links SET rz_contact_id = $1, updated_at = $2 WHERE connection_id = $3 AND id = $4`, rzID, now, connID, id)
		case plan.Attach == store.SideGHL:
			_, err = tx.Exec(ctx, `UPDATE links SET ghl_contact_id = $1, updated_at = $2 WHERE connection_id = $3 AND id = $4`, ghlID, now, connID, id)
		}
		return err
	})
	if isFK(err) {
		return store.Link{}, notFound("connection %s", connID)
	}
	if err != nil {
		return store.Link{}, fmt.Errorf("pair link: %w", err)
	}
	return s.GetLink(ctx, connID, id)
}

// GetLink reads a link by id.
func (s *Store) GetLink(ctx context.Context, connID, linkID string) (store.Link, error) {
	l, err := scanLink(s.pool.QueryRow(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = $1 AND id = $2`, connID, linkID))
	return store.OneRow(l, err, pgx.ErrNoRows, "link %s/%s", connID, linkID)
}

// LinkBy finds the link owning a contact id on one side.
func (s *Store) LinkBy(ctx context.Context, connID string, side store.Side, contactID string) (store.Link, error) {
	col, err := store.ContactColumn(side)
	if err != nil {
		return store.Link{}, err
	}
	l, err := scanLink(s.pool.QueryRow(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = $1 AND `+col+` = $2`, connID, contactID))
	return store.OneRow(l, err, pgx.ErrNoRows, "link for %s contact in connection %s", side, connID)
}

// AttachContact sets the link's contact id on side.
func (s *Store) AttachContact(ctx context.Context, connID, linkID string, side store.Side, contactID string) (store.Link, error) {
	col, err := store.ContactColumn(side)
	if err != nil {
		return store.Link{}, err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE links SET `+col+` = $1, updated_at = $2 WHERE connection_id = $3 AND id = $4`,
		nullString(contactID), store.Now(), connID, linkID)
	if isUnique(err) {
		return store.Link{}, fmt.Errorf("attach %s contact to link %s: another link owns it: %w", side, linkID, store.ErrConflict)
	}
	if err != nil {
		return store.Link{}, fmt.Errorf("attach %s contact to link %s: %w", side, linkID, err)
	}
	if tag.RowsAffected() == 0 {
		return store.Link{}, notFound("link %s/%s", connID, linkID)
	}
	return s.GetLink(ctx, connID, linkID)
}

// ClaimContact attaches a contact we created, absorbing a one-sided link made for it meanwhile.
// A link inserted for the contact between our check and our update (the relay racing us)
// surfaces as a unique violation; the claim then runs again and absorbs it.
func (s *Store) ClaimContact(ctx context.Context, connID, linkID string, side store.Side, contactID string) (store.Link, string, error) {
	for attempt := 0; ; attempt++ {
		l, absorbed, err := s.claimContact(ctx, connID, linkID, side, contactID)
		if !isUnique(err) || attempt == 4 {
			return l, absorbed, err
		}
	}
}

func (s *Store) claimContact(ctx context.Context, connID, linkID string, side store.Side, contactID string) (store.Link, string, error) {
	col, err := store.ContactColumn(side)
	if err != nil {
		return store.Link{}, "", err
	}
	absorbed := ""
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialise with pairings and other claims: two one-sided links claiming each
		// other's contact must not both absorb (or deadlock).
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('links/' || $1))`, connID); err != nil {
			return err
		}
		owner, err := findLink(tx.QueryRow(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = $1 AND `+col+` = $2 FOR UPDATE`, connID, contactID))
		if err != nil {
			return err
		}
		plan, err := store.PlanClaim(owner, linkID, side)
		if err != nil || plan.Done {
			return err
		}
		if plan.Absorb != "" {
			if _, err := tx.Exec(ctx, `DELETE FROM links WHERE connection_id = $1 AND id = $2`, connID, plan.Absorb); err != nil {
				return fmt.Errorf("absorb link %s: %w", plan.Absorb, err)
			}
			absorbed = plan.Absorb
		}
		tag, err := tx.Exec(ctx, `UPDATE links SET `+col+` = $1, updated_at = $2 WHERE connection_id = $3 AND id = $4`, contactID, store.Now(), connID, linkID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("link %s/%s", connID, linkID)
		}
		return nil
	})
	if err != nil {
		return store.Link{}, "", fmt.Errorf("claim %s contact for link %s: %w", side, linkID, err)
	}
	l, err := s.GetLink(ctx, connID, linkID)
	return l, absorbed, err
}

// MarkLinkDeleted flags a link whose person was deleted on a side.
func (s *Store) MarkLinkDeleted(ctx context.Context, connID, linkID string, deleted bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE links SET deleted = $1, updated_at = $2 WHERE connection_id = $3 AND id = $4`,
		deleted, store.Now(), connID, linkID)
	if err != nil {
		return fmt.Errorf("mark link %s deleted: %w", linkID, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("link %s/%s", connID, linkID)
	}
	return nil
}

// ListLinks pages links by id.
func (s *Store) ListLinks(ctx context.Context, connID, afterID string, limit int) ([]store.Link, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+linkCols+` FROM links WHERE connection_id = $1 AND id > $2 ORDER BY id LIMIT $3`, connID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	defer rows.Close()
	return store.CollectRows(rows, scanLink)
}

// CountLinks counts a connection's links.
func (s *Store) CountLinks(ctx context.Context, connID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM links WHERE connection_id = $1`, connID).Scan(&n)
	return n, err
}

// ---- ledger ----

// GetLedger reads the ledger entry of one object of one link.
func (s *Store) GetLedger(ctx context.Context, connID, linkID, object string) (store.LedgerEntry, error) {
	e, err := s.scanLedger(store.LedgerEntry{ConnectionID: connID, LinkID: linkID}, store.LedgerObject)(s.pool.QueryRow(ctx,
		`SELECT object, `+ledgerCols+` FROM ledger WHERE connection_id = $1 AND link_id = $2 AND object = $3`, connID, linkID, object))
	return store.OneRow(e, err, pgx.ErrNoRows, "ledger %s/%s/%s", connID, linkID, object)
}

// PutLedger writes a ledger entry.
func (s *Store) PutLedger(ctx context.Context, e store.LedgerEntry) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO ledger (connection_id, link_id, object, snapshot, hash, ghl_hash, rz_hash, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (connection_id, link_id, object) DO UPDATE SET snapshot = excluded.snapshot, hash = excluded.hash,
			ghl_hash = excluded.ghl_hash, rz_hash = excluded.rz_hash, updated_at = excluded.updated_at`,
		e.ConnectionID, e.LinkID, e.Object, store.SealBlob(s.kr, e.Snapshot, store.LedgerAAD(e.ConnectionID, e.LinkID, e.Object)), e.Hash, e.GHLHash, e.RZHash, store.Now())
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
	rows, err := s.pool.Query(ctx, `SELECT l.`+col+`, e.`+hashCol+` FROM links l JOIN ledger e
		ON e.connection_id = l.connection_id AND e.link_id = l.id
		WHERE l.connection_id = $1 AND e.object = $2 AND l.`+col+` IS NOT NULL`, connID, object)
	if err != nil {
		return nil, fmt.Errorf("side hashes: %w", err)
	}
	defer rows.Close()
	return store.CollectMap[string, string](rows)
}

// LedgerEntries pages a connection's entries of one object by link id.
func (s *Store) LedgerEntries(ctx context.Context, connID, object, afterLinkID string, limit int) ([]store.LedgerEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT link_id, snapshot, hash, ghl_hash, rz_hash, updated_at FROM ledger
		WHERE connection_id = $1 AND object = $2 AND link_id > $3 ORDER BY link_id LIMIT $4`, connID, object, afterLinkID, limit)
	if err != nil {
		return nil, fmt.Errorf("ledger entries: %w", err)
	}
	defer rows.Close()
	return store.CollectRows(rows, s.scanLedger(store.LedgerEntry{ConnectionID: connID, Object: object}, store.LedgerLinkID))
}

// LedgerEntriesOf pages one link's entries whose object starts with prefix.
func (s *Store) LedgerEntriesOf(ctx context.Context, connID, linkID, prefix, afterObject string, limit int) ([]store.LedgerEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT object, snapshot, hash, ghl_hash, rz_hash, updated_at FROM ledger
		WHERE connection_id = $1 AND link_id = $2 AND left(object, length($3)) = $3 AND object > $4 ORDER BY object LIMIT $5`,
		connID, linkID, prefix, afterObject, limit)
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
		if err := row.Scan(key(&e), &e.Snapshot, &e.Hash, &e.GHLHash, &e.RZHash, &e.UpdatedAt); err != nil {
			return e, err
		}
		utc(&e.UpdatedAt)
		err := store.OpenSnapshot(s.kr, &e)
		return e, err
	}
}
