package activities

import (
	"context"
	"fmt"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/store"
)

// BridgeHooks gives the webhook bridge what only the sync core and the clients know, so
// the bridge stays free of business logic. It is not an activity.
type BridgeHooks struct {
	Store store.Store
	Conns *connector.Registry
}

// IsEcho reports whether a HighLevel contact event is our own write coming back: the
// event's mapped projection hashes equal to what the ledger recorded as last written to
// HighLevel, or expects a write in flight to leave there (echoOfWrite). It costs no API call; any doubt answers false (signal, and let the pass decide).
func (d BridgeHooks) IsEcho(ctx context.Context, conn store.Connection, link store.Link, ev ghl.Envelope) (bool, error) {
	ce, ok := ev.Payload.(*ghl.ContactEvent)
	if !ok || ce == nil {
		return false, nil
	}
	c, err := d.Conns.Get(ctx, conn.ID)
	if err != nil {
		return false, nil
	}
	fields, tags := ghlHashes(c.Mapping, ce.Contact())
	var object, hash string
	switch ev.Type {
	case ghl.EventContactUpdate, ghl.EventContactDndUpdate, ghl.EventContactCreate:
		object, hash = ObjContact, fields
	case ghl.EventContactTagUpdate:
		object, hash = ObjTags, tags
	default:
		return false, nil
	}
	echo, err := echoOfWrite(ctx, d.Store, conn.ID, link.ID, object, hash, store.Now())
	if err != nil {
		return false, fmt.Errorf("echo check: %w", err)
	}
	return echo, nil
}

// ResolveTaskContact finds the contact of a task HighLevel announced without one, by
// searching the location's tasks (HighLevel's per-task read needs the contact id).
func (d BridgeHooks) ResolveTaskContact(ctx context.Context, conn store.Connection, taskID, title string) (string, error) {
	c, err := d.Conns.Get(ctx, conn.ID)
	if err != nil {
		return "", err
	}
	return c.GHL.FindTaskContact(ctx, taskID, title)
}
