package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// A HighLevel contact webhook (ContactCreate, ContactUpdate, ContactTagUpdate,
// ContactDndUpdate) carries the whole contact as HighLevel holds it at the webhook's
// timestamp. The relay records that body as the contact's HighLevel observation, so the pass
// the webhook triggers can plan without reading the contact again: at HighLevel's 100
// requests per 10 s, that read was what held live edits back.

// webhookSkew is how far HighLevel's clock (a webhook's timestamp) may run ahead of ours (a
// base's time) without a webhook body written before our last write being taken as newer
// than the base it describes. A body within this margin of the base is not used: the pass
// reads instead.
const webhookSkew = 2 * time.Second

// webhookObservation is how a webhook body is stored as an observation, told apart from a
// bulk-read contact record (which has no "webhook" key).
type webhookObservation struct {
	Webhook json.RawMessage `json:"webhook"`
}

// ObserveContact records a HighLevel contact webhook's body as the contact's HighLevel
// observation, stamped with the webhook's timestamp (never later than its receipt, so a
// clock running ahead cannot make it outrank a later record). The store keeps the latest
// record per contact, so an older webhook arriving late never replaces a newer one. Other
// events, and events without a timestamp, are not recorded.
func (d BridgeHooks) ObserveContact(ctx context.Context, conn store.Connection, env ghl.Envelope, body []byte, receivedAt time.Time) error {
	switch env.Type {
	case ghl.EventContactCreate, ghl.EventContactUpdate, ghl.EventContactTagUpdate, ghl.EventContactDndUpdate:
	default:
		return nil
	}
	if env.ContactID == "" || env.Timestamp.IsZero() {
		return nil
	}
	at := env.Timestamp
	if !receivedAt.IsZero() && receivedAt.Before(at) {
		at = receivedAt
	}
	raw, err := json.Marshal(webhookObservation{Webhook: body})
	if err != nil {
		return fmt.Errorf("encode webhook observation: %w", err)
	}
	if err := d.Store.PutObservations(ctx, conn.ID, store.SideGHL, []store.Observation{{ContactID: env.ContactID, Body: raw, ObservedAt: at.UTC()}}); err != nil {
		return fmt.Errorf("record webhook observation: %w", err)
	}
	return nil
}

// observedGHL returns the contact's HighLevel observation when a pass may plan with it
// instead of reading: fresh and newer than the base (see observed); when it is a webhook
// body, also at least as new as every HighLevel event of the pass, clear of the base by
// webhookSkew, and complete for the mapping (webhookContact).
func (d *Core) observedGHL(ctx context.Context, ttl time.Duration, connID string, m *syncmodel.Mapping, id string, since time.Time, events []domain.Event) (ghl.Contact, time.Time, bool) {
	var c ghl.Contact
	o, ok := d.freshObservation(ctx, ttl, connID, store.SideGHL, id, since)
	if !ok {
		return c, time.Time{}, false
	}
	var w webhookObservation
	if json.Unmarshal(o.Body, &w) != nil {
		return c, time.Time{}, false
	}
	if len(w.Webhook) == 0 { // a bulk-read record
		return c, o.ObservedAt, json.Unmarshal(o.Body, &c) == nil
	}
	if !o.ObservedAt.After(since.Add(webhookSkew)) {
		return c, time.Time{}, false
	}
	for _, e := range events {
		// The store keeps microseconds; HighLevel's timestamps have milliseconds.
		if e.Source == domain.SourceGHL && o.ObservedAt.Before(e.OccurredAt.Truncate(time.Microsecond)) {
			return c, time.Time{}, false // the webhook of this event has not been recorded (yet)
		}
	}
	c, ok = webhookContact(m, w.Webhook, o.ObservedAt)
	return c, o.ObservedAt, ok
}

// webhookContact decodes a contact webhook body into the contact it states, with
// DateUpdated set to at. ok is false unless the body has a key for every field the mapping
// syncs (and for source when rules or transforms may read it): a key missing is not an
// empty value, and planning with it would clear the other side.
func webhookContact(m *syncmodel.Mapping, body []byte, at time.Time) (ghl.Contact, bool) {
	var keys map[string]json.RawMessage
	if json.Unmarshal(body, &keys) != nil || !webhookComplete(m, keys) {
		return ghl.Contact{}, false
	}
	env, err := ghl.DecodeWebhook(body)
	if err != nil {
		return ghl.Contact{}, false
	}
	ce, ok := env.Payload.(*ghl.ContactEvent)
	if !ok || ce == nil || ce.ID == "" {
		return ghl.Contact{}, false
	}
	c := ce.Contact()
	c.DateUpdated = ghl.Time{Time: at}
	return c, true
}

// webhookComplete reports whether a webhook body's keys cover every mapped field.
func webhookComplete(m *syncmodel.Mapping, keys map[string]json.RawMessage) bool {
	var custom []struct {
		ID string `json:"id"`
	}
	if raw, ok := keys["customFields"]; ok && json.Unmarshal(raw, &custom) != nil {
		return false
	}
	hasCustom := map[string]bool{}
	for _, f := range custom {
		hasCustom[f.ID] = true
	}
	ids := map[string]string{}
	for _, c := range m.CustomFields() {
		ids[c.Key] = c.GHLID
	}
	needSource := len(m.Rules()) > 0
	for _, f := range m.Fields() {
		needSource = needSource || f.Transform != ""
		if key, ok := strings.CutPrefix(f.Name, syncmodel.CustomPrefix); ok {
			if !hasCustom[ids[key]] {
				return false
			}
			continue
		}
		if _, ok := keys[f.Name]; !ok {
			return false
		}
	}
	if _, ok := keys["source"]; needSource && !ok {
		return false
	}
	return true
}
