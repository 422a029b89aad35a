package activities

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/store"
)

// rzWriteFreshness is how old the Referrizer contact as we last wrote it (the answer to our
// own create or update) may be for a write to edit it and PUT it back
// without reading it first. Referrizer has no conditional update, so an edit made there in
// that window is overwritten, exactly as between a read and its PUT; it is the same bound as
// Contacts.RZFreshness's default. One pass often writes a contact several times in a row
// (the create or fields, then labels, the notes and tasks digests): all but the first skip
// the read.
const rzWriteFreshness = 5 * time.Second

// rzWrittenPrefix keys the answers to our writes apart from the bulk-read records (a page of
// a list may render a contact partly; only a write's own answer is PUT back).
const rzWrittenPrefix = "rz-written/"

// updateRZ applies patch to a Referrizer contact: from known (the caller's own fresh read)
// or the contact as our last write left it when that is fresh (rzWriteFreshness), else after reading it.
// The contact as stored is kept (see keepRZ) for the next write.
func (d *Core) updateRZ(ctx context.Context, conn *connector.Conn, id string, patch referrizer.ContactPatch, known *referrizer.Contact) (referrizer.Contact, error) {
	edit := func(c *referrizer.Contact) error { patch.Apply(c); return nil }
	sent := d.now()
	var out referrizer.Contact
	var err error
	if known == nil {
		if cur, ok := d.lastSeenRZ(ctx, conn.ID, id); ok {
			known = &cur
		}
	}
	if known != nil {
		out, err = conn.RZ.PutContact(ctx, *known, edit)
	} else {
		out, err = conn.RZ.UpdateContactFunc(ctx, id, edit)
	}
	if err == nil {
		d.keepRZ(ctx, conn.ID, out, sent)
	}
	return out, err
}

// lastSeenRZ returns the contact as our last write left it, when that is at most
// rzWriteFreshness old.
func (d *Core) lastSeenRZ(ctx context.Context, connID, id string) (referrizer.Contact, bool) {
	var c referrizer.Contact
	o, err := d.Store.GetObservation(ctx, connID, store.SideRZ, rzWrittenPrefix+id)
	if err != nil || d.now().Sub(o.ObservedAt) > rzWriteFreshness || json.Unmarshal(o.Body, &c) != nil || c.ID != id {
		return c, false
	}
	return c, true
}

// keepRZ records a contact as Referrizer answered our write of it, stamped with when the
// write was sent (so its age is never understated), under its own key: passes never plan
// from it. Failing to keep it costs a read next time, so the error is only logged.
func (d *Core) keepRZ(ctx context.Context, connID string, c referrizer.Contact, sent time.Time) {
	raw, err := json.Marshal(c)
	if err == nil {
		err = d.Store.PutObservations(ctx, connID, store.SideRZ, []store.Observation{{ContactID: rzWrittenPrefix + c.ID, Body: raw, ObservedAt: sent}})
	}
	if err != nil {
		d.log().Warn("could not keep the Referrizer contact as written", "connection", connID, "error", err)
	}
}
