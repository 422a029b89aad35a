package storetest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
)

// Reopener opens the same database every time, with the given keys.
type Reopener func(t *testing.T, kr *secrets.Keyring) store.Store

// Dumper returns every value of every column of every row of the named tables, raw bytes
// as they are stored, one value per line.
type Dumper func(t *testing.T, tables ...string) string

// PII markers written by AtRest; none may appear in a dump.
const (
	piiEmail = "atrest-marker@example.com"
	piiPhone = "+15550104242"
	piiName  = "Atrestmarker"
)

// piiTables are every table of the store.
var piiTables = []string{"inbox", "ledger", "observations", "match_keys", "links", "connections", "tokens", "dead_letters"}

// AtRest checks that personal data is sealed at rest with the keyring (and unreadable
// without it), that keys rotate, and that retention forgets bodies and observations but
// keeps webhookIds.
func AtRest(t *testing.T, open Reopener, dump Dumper) {
	oldSpec := secrets.GenerateSpec("old")
	oldKR, err := secrets.Parse(oldSpec)
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, oldKR)
	w := writeAtRest(t, s)
	s.Close()
	checkSealedDump(t, dump)

	// Without the key nothing opens.
	s = open(t, secrets.NewRandom())
	checkUnreadable(t, s, w)
	s.Close()

	// Rotation: a new primary key seals new values; the old key, listed second, still opens
	// what it sealed.
	rotated, err := secrets.Parse(secrets.GenerateSpec("new") + "," + oldSpec)
	if err != nil {
		t.Fatal(err)
	}
	s = open(t, rotated)
	checkRotated(t, s, w)
	s.Close()
	if raw := dump(t, "ledger"); !strings.Contains(raw, "\x00hz1\x03new") || strings.Contains(raw, "\x00hz1\x03old") {
		t.Errorf("rewritten snapshot not sealed with the new primary key")
	}
}

// atRestRows names what writeAtRest stored.
type atRestRows struct {
	pii     []byte
	linkID  string
	inboxID int64
	deadID  int64
}

// writeAtRest stores the PII markers in every table that holds personal data.
func writeAtRest(t *testing.T, s store.Store) atRestRows {
	c := ctx(t)
	pii := []byte(`{"email":"` + piiEmail + `","phone":"` + piiPhone + `","firstName":"` + piiName + `"}`)
	mustConn(t, s, "c1", "loc1")
	l, err := s.PairLink(c, "c1", "g1", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutLedger(c, store.LedgerEntry{ConnectionID: "c1", LinkID: l.ID, Object: "contact", Snapshot: pii, Hash: "h"}); err != nil {
		t.Fatal(err)
	}
	inboxID, _, err := s.InsertInbox(c, store.InboxEvent{DedupeKey: "wh-1", Source: "ghl", EventType: "ContactUpdate", LocationID: "loc1", Body: pii})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutObservations(c, "c1", store.SideGHL, []store.Observation{{ContactID: "g1", Body: pii}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMatchKeys(c, "c1", store.SideGHL, []store.MatchKey{{Key: "email:" + piiEmail, ContactID: "g1"}, {Key: "phone:" + piiPhone, ContactID: "g1"}}); err != nil {
		t.Fatal(err)
	}
	deadID, err := s.AddDeadLetter(c, store.DeadLetter{ConnectionID: "c1", LinkID: l.ID, Kind: "ContactSync", Input: pii, Error: "gave up"})
	if err != nil {
		t.Fatal(err)
	}
	return atRestRows{pii: pii, linkID: l.ID, inboxID: inboxID, deadID: deadID}
}

// checkSealedDump: no marker is readable in the raw tables, and values carry the key id.
func checkSealedDump(t *testing.T, dump Dumper) {
	raw := dump(t, piiTables...)
	for _, m := range []string{piiEmail, piiPhone, piiName} {
		if strings.Contains(raw, m) {
			t.Errorf("%q is stored in plaintext:\n%s", m, raw)
		}
	}
	if !strings.Contains(raw, "\x00hz1\x03old") {
		t.Error("no value sealed under key id \"old\" in the dump")
	}
}

// checkUnreadable: with a foreign keyring no sealed value opens.
func checkUnreadable(t *testing.T, s store.Store, w atRestRows) {
	c := ctx(t)
	if _, err := s.GetInbox(c, w.inboxID); err == nil {
		t.Error("inbox body opened without its key")
	}
	if _, err := s.GetLedger(c, "c1", w.linkID, "contact"); err == nil {
		t.Error("ledger snapshot opened without its key")
	}
	if _, err := s.GetObservation(c, "c1", store.SideGHL, "g1"); err == nil {
		t.Error("observation opened without its key")
	}
}

// checkRotated: after rotation every value still opens and new writes use the new key.
func checkRotated(t *testing.T, s store.Store, w atRestRows) {
	c := ctx(t)
	pii, l := w.pii, store.Link{ID: w.linkID}
	ev, err := s.GetInbox(c, w.inboxID)
	if err != nil || !bytes.Equal(ev.Body, pii) {
		t.Errorf("inbox after rotation: %q, %v", ev.Body, err)
	}
	le, err := s.GetLedger(c, "c1", l.ID, "contact")
	if err != nil || !bytes.Equal(le.Snapshot, pii) {
		t.Errorf("ledger after rotation: %q, %v", le.Snapshot, err)
	}
	if o, err := s.GetObservation(c, "c1", store.SideGHL, "g1"); err != nil || !bytes.Equal(o.Body, pii) {
		t.Errorf("observation after rotation: %q, %v", o.Body, err)
	}
	if m, err := s.MatchContacts(c, "c1", store.SideGHL, []string{"email:" + piiEmail, "phone:" + piiPhone, "email:other@example.com"}); err != nil ||
		len(m) != 2 || len(m["email:"+piiEmail]) != 1 || m["email:"+piiEmail][0] != "g1" || m["phone:"+piiPhone][0] != "g1" {
		t.Errorf("match keys after rotation: %v, %v", m, err)
	}
	// Written again under the new key, a contact is still found once.
	if err := s.PutMatchKeys(c, "c1", store.SideGHL, []store.MatchKey{{Key: "email:" + piiEmail, ContactID: "g1"}}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.MatchContacts(c, "c1", store.SideGHL, []string{"email:" + piiEmail}); err != nil || len(m["email:"+piiEmail]) != 1 {
		t.Errorf("match keys under both keys: %v, %v", m, err)
	}
	if d, err := s.GetDeadLetter(c, w.deadID); err != nil || !bytes.Equal(d.Input, pii) {
		t.Errorf("dead letter after rotation: %q, %v", d.Input, err)
	}
	entries, err := s.LedgerEntries(c, "c1", "contact", "", 10)
	if err != nil || len(entries) != 1 || !bytes.Equal(entries[0].Snapshot, pii) {
		t.Errorf("ledger entries after rotation: %v, %v", entries, err)
	}
	if err := s.PutLedger(c, store.LedgerEntry{ConnectionID: "c1", LinkID: l.ID, Object: "contact", Snapshot: pii, Hash: "h2"}); err != nil {
		t.Fatal(err)
	}
}

// Retention checks store.Retention: finished inbox rows lose their body after one age and
// their row after another, pending rows are kept whole, and expired observations go.
func Retention(t *testing.T, s store.Store) {
	c := ctx(t)
	now := store.Now()
	pii := []byte(`{"email":"` + piiEmail + `"}`)
	ins := func(key string, state store.InboxState, age time.Duration) int64 {
		t.Helper()
		id, ok, err := s.InsertInbox(c, store.InboxEvent{DedupeKey: key, Source: "ghl", EventType: "ContactUpdate", Body: pii, State: state, ReceivedAt: now.Add(-age)})
		if err != nil || !ok {
			t.Fatalf("insert %s: %v %v", key, ok, err)
		}
		return id
	}
	recent := ins("recent", store.InboxSignalled, time.Hour)
	week := ins("week-old", store.InboxSignalled, 8*24*time.Hour)
	pending := ins("old-pending", store.InboxPending, 60*24*time.Hour)
	ins("month-old", store.InboxIgnored, 31*24*time.Hour)

	bodies, rows, err := s.PruneInbox(c, now.Add(-7*24*time.Hour), now.Add(-30*24*time.Hour))
	if err != nil || bodies != 2 || rows != 1 {
		t.Fatalf("PruneInbox = %d bodies, %d rows, %v; want 2, 1", bodies, rows, err)
	}
	for id, want := range map[int64]bool{recent: true, week: false, pending: true} {
		ev, err := s.GetInbox(c, id)
		if err != nil || (len(ev.Body) > 0) != want {
			t.Errorf("inbox %d after pruning: body %q, %v; want body kept %v", id, ev.Body, err, want)
		}
	}
	// The webhookId of a pruned body is still a duplicate; the deleted row's is forgotten.
	if _, ok, err := s.InsertInbox(c, store.InboxEvent{DedupeKey: "week-old", Source: "ghl", EventType: "x", Body: pii}); err != nil || ok {
		t.Errorf("replay of a pruned event inserted=%v, %v; want a duplicate", ok, err)
	}
	if _, ok, err := s.InsertInbox(c, store.InboxEvent{DedupeKey: "month-old", Source: "ghl", EventType: "x", Body: pii}); err != nil || !ok {
		t.Errorf("event past key retention inserted=%v, %v; want it forgotten", ok, err)
	}

	if err := s.PutObservations(c, "c1", store.SideGHL, []store.Observation{{ContactID: "old", Body: pii, ObservedAt: now.Add(-2 * time.Hour)}, {ContactID: "new", Body: pii, ObservedAt: now}}); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneObservations(c, now.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Errorf("PruneObservations = %d, %v; want 1", n, err)
	}
	if _, err := s.GetObservation(c, "c1", store.SideGHL, "old"); err == nil {
		t.Error("expired observation still there")
	}
	if _, err := s.GetObservation(c, "c1", store.SideGHL, "new"); err != nil {
		t.Errorf("fresh observation: %v", err)
	}
}
