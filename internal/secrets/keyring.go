// Package secrets seals small values (OAuth tokens, Temporal payloads) with AES-256-GCM.
// Every sealed value names the key that sealed it, so keys rotate without re-encrypting
// everything at once: the primary key seals, every listed key opens.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeyEnv is the environment variable holding the keys: comma-separated "id:base64key"
// entries (a bare base64 key gets id "k1"); the first entry is the primary.
const KeyEnv = "HLRZ_ENCRYPTION_KEYS"

// Keyring holds AES-256 keys by id.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
	macs    map[string][]byte // per key, a MAC key derived from it (Digests)
	ids     []string          // in the order listed
}

// ErrNoKey means a sealed value names a key this keyring does not hold.
var ErrNoKey = errors.New("secrets: unknown key id")

// ErrUnreadable is wrapped by every error of a sealed value that cannot be opened (unknown
// key, damaged or tampered value): a configuration problem, not a transient one.
var ErrUnreadable = errors.New("secrets: sealed value unreadable")

// Parse reads a key list in the KeyEnv format. Errors say which entry is wrong and never
// echo key material.
func Parse(spec string) (*Keyring, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("%s is empty: set it to a base64-encoded 32-byte key (e.g. `openssl rand -base64 32`)", KeyEnv)
	}
	kr := &Keyring{aeads: map[string]cipher.AEAD{}, macs: map[string][]byte{}}
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			id, b64 = "k1", entry
		}
		if id == "" || strings.ContainsAny(id, " .") {
			return nil, fmt.Errorf("%s entry %d: key id %q must be non-empty without spaces or dots", KeyEnv, i+1, id)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("%s entry %d (id %q): key is not valid base64", KeyEnv, i+1, id)
		}
		if len(raw) != 32 {
			return nil, fmt.Errorf("%s entry %d (id %q): key is %d bytes, want 32", KeyEnv, i+1, id, len(raw))
		}
		if _, dup := kr.aeads[id]; dup {
			return nil, fmt.Errorf("%s entry %d: key id %q appears twice", KeyEnv, i+1, id)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("%s entry %d: %w", KeyEnv, i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%s entry %d: %w", KeyEnv, i+1, err)
		}
		kr.aeads[id] = aead
		derive := hmac.New(sha256.New, raw)
		derive.Write([]byte("hlrz digest key v1"))
		kr.macs[id] = derive.Sum(nil)
		kr.ids = append(kr.ids, id)
		if i == 0 {
			kr.primary = id
		}
	}
	return kr, nil
}

// NewRandom returns a keyring with one fresh random key; for --dev and tests only, since
// whatever it seals cannot be opened after the process exits.
func NewRandom() *Keyring {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		panic(err)
	}
	kr, err := Parse("dev:" + base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		panic(err)
	}
	return kr
}

// GenerateSpec returns a fresh key in the KeyEnv format.
func GenerateSpec(id string) string {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		panic(err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(raw)
}

// PrimaryID is the id of the key that seals.
func (k *Keyring) PrimaryID() string { return k.primary }

// Digests returns keyed digests of v (HMAC-SHA256 with a key derived from each key of the
// ring, "keyID.base64"), the primary key's first: a value stored by its digest can be looked
// up by equality without being stored in clear, and after a rotation by any key's digest.
func (k *Keyring) Digests(v string) []string {
	out := make([]string, 0, len(k.ids))
	for _, id := range k.ids {
		m := hmac.New(sha256.New, k.macs[id])
		m.Write([]byte(v))
		out = append(out, id+"."+base64.RawStdEncoding.EncodeToString(m.Sum(nil)))
	}
	return out
}

// Seal encrypts plaintext with the primary key; aad binds the ciphertext to its context
// (e.g. the row it belongs to) so it cannot be moved elsewhere. Layout: nonce || ciphertext.
func (k *Keyring) Seal(plaintext, aad []byte) (keyID string, sealed []byte) {
	aead := k.aeads[k.primary]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return k.primary, aead.Seal(nonce, nonce, plaintext, aad)
}

// Open decrypts a value sealed by Seal with key keyID.
func (k *Keyring) Open(keyID string, sealed, aad []byte) ([]byte, error) {
	aead, ok := k.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("%w: %w %q", ErrUnreadable, ErrNoKey, keyID)
	}
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("%w: too short", ErrUnreadable)
	}
	out, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: open with key %q: authentication failed", ErrUnreadable, keyID)
	}
	return out, nil
}

// SealString seals s into one printable string "keyID.base64".
func (k *Keyring) SealString(s string, aad []byte) string {
	if s == "" {
		return ""
	}
	id, sealed := k.Seal([]byte(s), aad)
	return id + "." + base64.RawStdEncoding.EncodeToString(sealed)
}

// OpenString reverses SealString.
func (k *Keyring) OpenString(v string, aad []byte) (string, error) {
	if v == "" {
		return "", nil
	}
	id, b64, ok := strings.Cut(v, ".")
	if !ok {
		return "", fmt.Errorf("%w: sealed string has no key id", ErrUnreadable)
	}
	sealed, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("%w: sealed string is not base64", ErrUnreadable)
	}
	out, err := k.Open(id, sealed, aad)
	return string(out), err
}
