package activities

import (
	"context"
	"errors"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/store"
)

// A HighLevel webhook is our own write coming back when it carries the hash the ledger holds
// as last written there. That base is recorded after the write (a retry must redo the
// write), so a webhook relayed between the write and the base was not recognised and ran a
// pass that found nothing to do. Before writing, apply therefore records the hash it expects
// HighLevel to hold afterwards as the ledger object expectPrefix+object; the echo check also
// accepts it while it is newer than the base and under expectedEchoTTL old.
const (
	expectPrefix    = "expect:"
	expectedEchoTTL = 2 * time.Minute
)

// expectGHL records that a write about to be sent should leave HighLevel's side of object
// hashing to hash.
func (d *Core) expectGHL(ctx context.Context, ref domain.Ref, object, hash string) error {
	if hash == "" {
		return nil
	}
	if err := d.Store.PutLedger(ctx, store.LedgerEntry{ConnectionID: ref.ConnectionID, LinkID: ref.LinkID, Object: expectPrefix + object, GHLHash: hash}); err != nil {
		return asTemporalError("record expected HighLevel hash", err)
	}
	return nil
}

// echoOfWrite reports whether hash is what the ledger says we last wrote to HighLevel for
// object: the base's HighLevel hash, or an expected hash recorded after that base and
// recently (a write whose base is not recorded yet).
func echoOfWrite(ctx context.Context, st store.Ledger, connID, linkID, object, hash string, now time.Time) (bool, error) {
	base, err := st.GetLedger(ctx, connID, linkID, object)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return false, err
	case base.GHLHash != "" && base.GHLHash == hash:
		return true, nil
	}
	exp, err := st.GetLedger(ctx, connID, linkID, expectPrefix+object)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return exp.GHLHash == hash && exp.UpdatedAt.After(base.UpdatedAt) && now.Sub(exp.UpdatedAt) <= expectedEchoTTL, nil
}
