package store

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/hlrz/hlrz/internal/secrets"
)

// Personal data at rest (inbox bodies, ledger snapshots, observations) is sealed with the
// same keyring as tokens. A sealed blob names its key, so keys rotate: the primary seals,
// every listed key opens. Layout: blobMagic, one byte of key id length, the key id, then
// secrets.Keyring.Seal's nonce||ciphertext. The magic cannot begin JSON, so rows written
// before encryption (plain JSON) are still read, and sealed the next time they are written.
var blobMagic = []byte{0, 'h', 'z', '1'}

// AAD prefixes bind a sealed blob to its row, so it cannot be moved to another.
func InboxAAD(dedupeKey string) []byte { return []byte("inbox\x00" + dedupeKey) }

// LedgerAAD binds a ledger snapshot to its row.
func LedgerAAD(connID, linkID, object string) []byte {
	return []byte("ledger\x00" + connID + "\x00" + linkID + "\x00" + object)
}

// ObservationAAD binds an observation body to its row.
func ObservationAAD(connID string, side Side, contactID string) []byte {
	return []byte("observation\x00" + connID + "\x00" + string(side) + "\x00" + contactID)
}

// DeadLetterAAD binds a dead letter's input to its connection and kind.
func DeadLetterAAD(connID, kind string) []byte {
	return []byte("dead_letter\x00" + connID + "\x00" + kind)
}

// SealBlob seals plain with kr's primary key; empty stays empty.
func SealBlob(kr *secrets.Keyring, plain, aad []byte) []byte {
	if len(plain) == 0 {
		return plain
	}
	id, sealed := kr.Seal(plain, aad)
	out := make([]byte, 0, len(blobMagic)+1+len(id)+len(sealed))
	out = append(out, blobMagic...)
	out = append(out, byte(len(id)))
	out = append(out, id...)
	return append(out, sealed...)
}

// IsSealed reports whether b is a sealed blob.
func IsSealed(b []byte) bool { return bytes.HasPrefix(b, blobMagic) }

// BlobKeyID is the id of the key that sealed b, or "" when b is not sealed.
func BlobKeyID(b []byte) string {
	if !IsSealed(b) || len(b) < len(blobMagic)+1 {
		return ""
	}
	n := int(b[len(blobMagic)])
	if len(b) < len(blobMagic)+1+n {
		return ""
	}
	return string(b[len(blobMagic)+1 : len(blobMagic)+1+n])
}

// OpenBlob reverses SealBlob. A blob without the magic is a row written before encryption
// and is returned as it is.
func OpenBlob(kr *secrets.Keyring, b, aad []byte) ([]byte, error) {
	if !IsSealed(b) {
		return b, nil
	}
	rest := b[len(blobMagic):]
	if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
		return nil, errors.New("open sealed blob: truncated")
	}
	id := string(rest[1 : 1+int(rest[0])])
	plain, err := kr.Open(id, rest[1+int(rest[0]):], aad)
	if err != nil {
		return nil, fmt.Errorf("open sealed blob (key %q): %w", id, err)
	}
	return plain, nil
}

// MatchKeyDigests maps what the match_keys table may hold for each of keys back to the key:
// its keyed digest under every key of kr (secrets.Keyring.Digests; the primary's is what new
// rows get) and, for rows written before digests, the key itself.
func MatchKeyDigests(kr *secrets.Keyring, keys []string) (lookup []string, back map[string]string) {
	back = map[string]string{}
	for _, k := range keys {
		for _, d := range kr.Digests(k) {
			back[d] = k
		}
		back[k] = k
	}
	for d := range back {
		lookup = append(lookup, d)
	}
	sort.Strings(lookup)
	return lookup, back
}

// StoredMatchKey is what a new match_keys row holds for key: its primary-key digest.
func StoredMatchKey(kr *secrets.Keyring, key string) string { return kr.Digests(key)[0] }

// AddMatch appends id to out[key] unless it is there, keeping the ids sorted.
func AddMatch(out map[string][]string, key, id string) {
	ids := out[key]
	i := sort.SearchStrings(ids, id)
	if i < len(ids) && ids[i] == id {
		return
	}
	out[key] = append(ids[:i], append([]string{id}, ids[i:]...)...)
}

// OpenSnapshot opens e's sealed ledger snapshot in place.
func OpenSnapshot(kr *secrets.Keyring, e *LedgerEntry) error {
	plain, err := OpenBlob(kr, e.Snapshot, LedgerAAD(e.ConnectionID, e.LinkID, e.Object))
	if err != nil {
		return fmt.Errorf("ledger %s/%s/%s: %w", e.ConnectionID, e.LinkID, e.Object, err)
	}
	e.Snapshot = plain
	return nil
}

// OpenObservation opens o's sealed body in place.
func OpenObservation(kr *secrets.Keyring, o *Observation, connID string, side Side) error {
	var err error
	if o.Body, err = OpenBlob(kr, o.Body, ObservationAAD(connID, side, o.ContactID)); err != nil {
		return fmt.Errorf("observation: %w", err)
	}
	return nil
}

// OpenInboxBody opens e's sealed body in place.
func OpenInboxBody(kr *secrets.Keyring, e *InboxEvent) error {
	var err error
	if e.Body, err = OpenBlob(kr, e.Body, InboxAAD(e.DedupeKey)); err != nil {
		return fmt.Errorf("inbox event %d: %w", e.ID, err)
	}
	return nil
}

// OpenDeadLetterInput opens d's sealed input in place.
func OpenDeadLetterInput(kr *secrets.Keyring, d *DeadLetter) error {
	var err error
	if d.Input, err = OpenBlob(kr, d.Input, DeadLetterAAD(d.ConnectionID, d.Kind)); err != nil {
		return fmt.Errorf("dead letter %d: %w", d.ID, err)
	}
	return nil
}
