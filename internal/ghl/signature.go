package ghl

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// HighLevel signs webhooks with two schemes (../shared/ghl-facts.md §1):
//
//   - SignatureHeader (X-GHL-Signature): Ed25519 over the exact body, the 64-byte signature
//     base64-encoded. HighLevel's current scheme; the only one after 1 July 2026.
//   - LegacySignatureHeader (X-WH-Signature): RSA PKCS #1 v1.5 over SHA-256 of the body,
//     base64. Deprecated; sent beside X-GHL-Signature during the transition.
//
// VerifyWebhook checks them in the order of HighLevel's official SDK: when X-GHL-Signature
// is present it alone decides, and X-WH-Signature is only looked at when it is absent.
const (
	SignatureHeader       = "X-GHL-Signature"
	LegacySignatureHeader = "X-WH-Signature"
)

// Scheme names a webhook signature scheme.
type Scheme string

const (
	SchemeEd25519 Scheme = "ed25519" // X-GHL-Signature
	SchemeRSA     Scheme = "rsa"     // X-WH-Signature (legacy)
)

// Header is the request header that carries signatures of the scheme.
func (s Scheme) Header() string {
	if s == SchemeRSA {
		return LegacySignatureHeader
	}
	return SignatureHeader
}

// String describes the scheme for operators, e.g. "Ed25519 (X-GHL-Signature)".
func (s Scheme) String() string {
	switch s {
	case SchemeEd25519:
		return "Ed25519 (" + SignatureHeader + ")"
	case SchemeRSA:
		return "RSA (" + LegacySignatureHeader + ", legacy)"
	}
	return string(s)
}

var (
	// ErrBadSignature means a webhook's signature does not verify with any trusted key, or
	// cannot be read at all.
	ErrBadSignature = errors.New("ghl: webhook signature does not verify")
	// ErrNoSignature means a webhook carries neither signature header.
	ErrNoSignature = errors.New("ghl: webhook is not signed")
)

// WebhookKeys are the public keys trusted per scheme. Any key of a scheme may match, so
// during a rotation the old and the new key are both listed. A scheme with no key refuses
// every signature of that scheme.
type WebhookKeys struct {
	Ed25519 []ed25519.PublicKey
	RSA     []*rsa.PublicKey
}

// Len is the number of keys of both schemes.
func (k WebhookKeys) Len() int { return len(k.Ed25519) + len(k.RSA) }

// Add trusts pub, an ed25519.PublicKey or *rsa.PublicKey, for its scheme and says which.
func (k *WebhookKeys) Add(pub crypto.PublicKey) (Scheme, error) {
	s, err := k.add(pub)
	if err != nil {
		return "", fmt.Errorf("ghl: webhook key: %w", err)
	}
	return s, nil
}

func (k *WebhookKeys) add(pub crypto.PublicKey) (Scheme, error) {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return "", fmt.Errorf("Ed25519 key of %d bytes, want %d", len(p), ed25519.PublicKeySize)
		}
		k.Ed25519 = append(k.Ed25519, p)
		return SchemeEd25519, nil
	case *rsa.PublicKey:
		if p == nil || p.N == nil {
			return "", errors.New("nil RSA key")
		}
		k.RSA = append(k.RSA, p)
		return SchemeRSA, nil
	default:
		return "", fmt.Errorf("%s is not supported: HighLevel signs webhooks with Ed25519 (%s) or RSA (%s, legacy)",
			keyTypeName(pub), SignatureHeader, LegacySignatureHeader)
	}
}

// AddAll trusts every key of o as well.
func (k *WebhookKeys) AddAll(o WebhookKeys) {
	k.Ed25519 = append(k.Ed25519, o.Ed25519...)
	k.RSA = append(k.RSA, o.RSA...)
}

// Describe lists the keys for a startup line: scheme, header and fingerprint of each.
func (k WebhookKeys) Describe() []string {
	var out []string
	for _, p := range k.Ed25519 {
		out = append(out, SchemeEd25519.String()+" "+KeyFingerprint(p))
	}
	for _, p := range k.RSA {
		out = append(out, SchemeRSA.String()+" "+KeyFingerprint(p))
	}
	return out
}

// KeyFingerprint identifies a public key in logs: "sha256:" and the first 16 hex digits of
// the SHA-256 of its SubjectPublicKeyInfo DER.
func KeyFingerprint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "unknown"
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

func keyTypeName(pub crypto.PublicKey) string {
	switch pub.(type) {
	case nil:
		return "no key"
	case *rsa.PublicKey:
		return "RSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	t := fmt.Sprintf("%T", pub)
	switch {
	case strings.Contains(t, "ecdsa"):
		return "an ECDSA key"
	case strings.Contains(t, "ecdh"):
		return "an ECDH key"
	case strings.Contains(t, "dsa"):
		return "a DSA key"
	}
	return "a key of type " + t
}

// ParseWebhookKeys reads every PEM block of pemText (one file may hold several keys, e.g.
// the old and the new one during a rotation) and sorts each key into its scheme by its type:
// Ed25519 keys verify X-GHL-Signature, RSA keys X-WH-Signature. Blocks are "PUBLIC KEY"
// (SubjectPublicKeyInfo, the form HighLevel publishes) or "RSA PUBLIC KEY" (PKCS #1). Any
// other key type or block is an error naming the block.
func ParseWebhookKeys(pemText []byte) (WebhookKeys, error) {
	var keys WebhookKeys
	rest := bytes.TrimSpace(pemText)
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if n == 1 {
				return keys, errors.New("ghl: webhook key: no PEM block (want -----BEGIN PUBLIC KEY-----)")
			}
			if len(bytes.TrimSpace(rest)) > 0 {
				return keys, fmt.Errorf("ghl: webhook key: text after PEM block %d is not a PEM block", n-1)
			}
			return keys, nil
		}
		pub, err := parseKeyBlock(block)
		if err == nil {
			_, err = keys.add(pub)
		}
		if err != nil {
			return keys, fmt.Errorf("ghl: webhook key in PEM block %d: %w", n, err)
		}
	}
}

func parseKeyBlock(block *pem.Block) (crypto.PublicKey, error) {
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a public key: %w", err)
		}
		return k, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not an RSA public key: %w", err)
		}
		return k, nil
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("%q is a private key; configure the public key only", block.Type)
	}
	return nil, fmt.Errorf("unexpected PEM block %q (want PUBLIC KEY)", block.Type)
}

// ParsePublicKey reads one RSA public key from PEM ("PUBLIC KEY" or "RSA PUBLIC KEY").
func ParsePublicKey(pemText []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(bytes.TrimSpace(pemText))
	if block == nil {
		return nil, errors.New("ghl: webhook key: no PEM block")
	}
	k, err := parseKeyBlock(block)
	if err != nil {
		return nil, fmt.Errorf("ghl: webhook key: %w", err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("ghl: webhook key: %s is not an RSA key", keyTypeName(k))
	}
	return rk, nil
}

// VerifyWebhook checks the signature of a webhook delivery over its exact body, in the order
// of HighLevel's official SDK: a non-blank X-GHL-Signature alone decides (Ed25519 with
// keys.Ed25519; X-WH-Signature is then ignored, valid or not); only without it is
// X-WH-Signature checked (RSA with keys.RSA). It returns the scheme that verified, or an
// error matching ErrNoSignature (neither header) or ErrBadSignature.
func VerifyWebhook(body []byte, h http.Header, keys WebhookKeys) (Scheme, error) {
	if sig := strings.TrimSpace(h.Get(SignatureHeader)); sig != "" {
		if err := VerifyEd25519(body, sig, keys.Ed25519...); err != nil {
			return SchemeEd25519, err
		}
		return SchemeEd25519, nil
	}
	if sig := strings.TrimSpace(h.Get(LegacySignatureHeader)); sig != "" {
		if len(keys.RSA) == 0 {
			return SchemeRSA, fmt.Errorf("%w: %s is not accepted (no RSA key is trusted)", ErrBadSignature, LegacySignatureHeader)
		}
		if err := VerifySignature(body, sig, keys.RSA...); err != nil {
			return SchemeRSA, err
		}
		return SchemeRSA, nil
	}
	return "", fmt.Errorf("%w: neither %s nor %s", ErrNoSignature, SignatureHeader, LegacySignatureHeader)
}

// VerifyEd25519 checks sigB64 (the X-GHL-Signature header: base64 of a 64-byte Ed25519
// signature) over body with any of keys. With no keys nothing verifies.
func VerifyEd25519(body []byte, sigB64 string, keys ...ed25519.PublicKey) error {
	sig, err := decodeSignature(SignatureHeader, sigB64)
	if err != nil {
		return err
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: %s is %d bytes, an Ed25519 signature is %d", ErrBadSignature, SignatureHeader, len(sig), ed25519.SignatureSize)
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: no Ed25519 key is trusted", ErrBadSignature)
	}
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, body, sig) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s matches none of %d Ed25519 keys", ErrBadSignature, SignatureHeader, len(keys))
}

// VerifySignature checks sigB64 (the legacy X-WH-Signature header) as an RSA-SHA256
// PKCS #1 v1.5 signature of the raw body, accepting any of keys. With no keys it uses
// HighLevel's published RSA key (DefaultWebhookPublicKey).
func VerifySignature(body []byte, sigB64 string, keys ...*rsa.PublicKey) error {
	sig, err := decodeSignature(LegacySignatureHeader, sigB64)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		k, err := DefaultWebhookPublicKey()
		if err != nil {
			return err
		}
		keys = []*rsa.PublicKey{k}
	}
	sum := sha256.Sum256(body)
	for _, k := range keys {
		if k != nil && rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %s matches none of %d RSA keys", ErrBadSignature, LegacySignatureHeader, len(keys))
}

// decodeSignature reads the base64 value (padded or not) of the signature header named.
func decodeSignature(header, sigB64 string) ([]byte, error) {
	sigB64 = strings.TrimSpace(sigB64)
	if sigB64 == "" {
		return nil, fmt.Errorf("%w: no %s", ErrBadSignature, header)
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		if sig, err = base64.RawStdEncoding.DecodeString(sigB64); err != nil {
			return nil, fmt.Errorf("%w: %s is not base64", ErrBadSignature, header)
		}
	}
	return sig, nil
}

// webhookEd25519KeyPEM is HighLevel's published Ed25519 webhook key
// (../shared/ghl-facts.md §1; HighLevel's Webhook Integration Guide).
const webhookEd25519KeyPEM = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=
-----END PUBLIC KEY-----
`

// webhookPublicKeyPEM is HighLevel's published RSA webhook key, for the legacy
// X-WH-Signature (docs/oauth/WebhookAuthentication.md).
const webhookPublicKeyPEM = `-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAokvo/r9tVgcfZ5DysOSC
Frm602qYV0MaAiNnX9O8KxMbiyRKWeL9JpCpVpt4XHIcBOK4u3cLSqJGOLaPuXw6
dO0t6Q/ZVdAV5Phz+ZtzPL16iCGeK9po6D6JHBpbi989mmzMryUnQJezlYJ3DVfB
csedpinheNnyYeFXolrJvcsjDtfAeRx5ByHQmTnSdFUzuAnC9/GepgLT9SM4nCpv
uxmZMxrJt5Rw+VUaQ9B8JSvbMPpez4peKaJPZHBbU3OdeCVx5klVXXZQGNHOs8gF
3kvoV5rTnXV0IknLBXlcKKAQLZcY/Q9rG6Ifi9c+5vqlvHPCUJFT5XUGG5RKgOKU
J062fRtN+rLYZUV+BjafxQauvC8wSWeYja63VSUruvmNj8xkx2zE/Juc+yjLjTXp
IocmaiFeAO6fUtNjDeFVkhf5LNb59vECyrHD2SQIrhgXpO4Q3dVNA5rw576PwTzN
h/AMfHKIjE4xQA1SZuYJmNnmVZLIZBlQAF9Ntd03rfadZ+yDiOXCCs9FkHibELhC
HULgCsnuDJHcrGNd5/Ddm5hxGQ0ASitgHeMZ0kcIOwKDOzOU53lDza6/Y09T7sYJ
PQe7z0cvj7aE4B+Ax1ZoZGPzpJlZtGXCsu9aTEGEnKzmsFqwcSsnw3JB31IGKAyk
T1hhTiaCeIY/OwwwNUY2yvcCAwEAAQ==
-----END PUBLIC KEY-----
`

var (
	defaultKey        = sync.OnceValues(func() (*rsa.PublicKey, error) { return ParsePublicKey([]byte(webhookPublicKeyPEM)) })
	defaultEd25519Key = sync.OnceValues(func() (ed25519.PublicKey, error) {
		keys, err := ParseWebhookKeys([]byte(webhookEd25519KeyPEM))
		if err != nil {
			return nil, fmt.Errorf("ghl: built-in Ed25519 webhook key: %w", err)
		}
		if len(keys.Ed25519) != 1 {
			return nil, errors.New("ghl: built-in Ed25519 webhook key is not an Ed25519 key")
		}
		return keys.Ed25519[0], nil
	})
)

// DefaultWebhookPublicKey is HighLevel's published RSA webhook key (legacy X-WH-Signature).
func DefaultWebhookPublicKey() (*rsa.PublicKey, error) { return defaultKey() }

// DefaultWebhookEd25519Key is HighLevel's published Ed25519 webhook key (X-GHL-Signature).
func DefaultWebhookEd25519Key() (ed25519.PublicKey, error) { return defaultEd25519Key() }

// WithDefaults returns k with HighLevel's published key added for each scheme that has no
// key, and the schemes it filled in. A configuration that lists only RSA keys (written before
// Ed25519) thus still verifies today's X-GHL-Signature, and one that lists only Ed25519 keys
// still accepts HighLevel's legacy header.
func (k WebhookKeys) WithDefaults() (WebhookKeys, []Scheme, error) {
	out := WebhookKeys{Ed25519: append([]ed25519.PublicKey(nil), k.Ed25519...), RSA: append([]*rsa.PublicKey(nil), k.RSA...)}
	var filled []Scheme
	if len(out.Ed25519) == 0 {
		ed, err := DefaultWebhookEd25519Key()
		if err != nil {
			return k, nil, err
		}
		out.Ed25519, filled = append(out.Ed25519, ed), append(filled, SchemeEd25519)
	}
	if len(out.RSA) == 0 {
		rk, err := DefaultWebhookPublicKey()
		if err != nil {
			return k, nil, err
		}
		out.RSA, filled = append(out.RSA, rk), append(filled, SchemeRSA)
	}
	return out, filled, nil
}

// DefaultWebhookKeys are HighLevel's published keys: its Ed25519 key for X-GHL-Signature and
// its RSA key for the legacy X-WH-Signature.
func DefaultWebhookKeys() (WebhookKeys, error) {
	ed, err := DefaultWebhookEd25519Key()
	if err != nil {
		return WebhookKeys{}, err
	}
	rk, err := DefaultWebhookPublicKey()
	if err != nil {
		return WebhookKeys{}, err
	}
	return WebhookKeys{Ed25519: []ed25519.PublicKey{ed}, RSA: []*rsa.PublicKey{rk}}, nil
}
