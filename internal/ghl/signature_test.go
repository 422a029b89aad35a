package ghl_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/ghl/ghlspec"
)

var rsaKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var out [2]*rsa.PrivateKey
	for i := range out {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		out[i] = k
	}
	return out
})

func edKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func edSig(k ed25519.PrivateKey, body []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(k, body))
}

func rsaSig(t *testing.T, k *rsa.PrivateKey, body []byte) string {
	t.Helper()
	sum := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func pemOf(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestVerifyWebhook covers every variant HighLevel's two schemes can arrive in, in the
// official SDK's order: X-GHL-Signature, when present, alone decides.
func TestVerifyWebhook(t *testing.T) {
	body := []byte(`{"type":"ContactCreate","locationId":"loc1","id":"c1","webhookId":"w1","timestamp":"2026-12-04T09:00:00Z"}`)
	tampered := bytes.Replace(body, []byte(`"c1"`), []byte(`"c2"`), 1)
	ours, stranger := edKey(t), edKey(t)
	rk := rsaKeys()
	keys := ghl.WebhookKeys{Ed25519: []ed25519.PublicKey{ours.Public().(ed25519.PublicKey)}, RSA: []*rsa.PublicKey{&rk[0].PublicKey}}
	hdr := func(ed, legacy string) http.Header {
		h := http.Header{}
		if ed != "" {
			h.Set(ghl.SignatureHeader, ed)
		}
		if legacy != "" {
			h.Set(ghl.LegacySignatureHeader, legacy)
		}
		return h
	}
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, n)) }
	for _, tc := range []struct {
		name   string
		body   []byte
		h      http.Header
		keys   ghl.WebhookKeys
		scheme ghl.Scheme
		err    error // nil: verifies
		text   string
	}{
		{"valid Ed25519", body, hdr(edSig(ours, body), ""), keys, ghl.SchemeEd25519, nil, ""},
		{"valid RSA only", body, hdr("", rsaSig(t, rk[0], body)), keys, ghl.SchemeRSA, nil, ""},
		{"valid Ed25519 and valid RSA", body, hdr(edSig(ours, body), rsaSig(t, rk[0], body)), keys, ghl.SchemeEd25519, nil, ""},
		{"valid Ed25519, invalid RSA", body, hdr(edSig(ours, body), rsaSig(t, rk[1], body)), keys, ghl.SchemeEd25519, nil, ""},
		{"tampered body, Ed25519", tampered, hdr(edSig(ours, body), ""), keys, ghl.SchemeEd25519, ghl.ErrBadSignature, "matches none"},
		{"tampered body, RSA", tampered, hdr("", rsaSig(t, rk[0], body)), keys, ghl.SchemeRSA, ghl.ErrBadSignature, "matches none"},
		{"valid RSA, invalid Ed25519 present", body, hdr(edSig(stranger, body), rsaSig(t, rk[0], body)), keys, ghl.SchemeEd25519, ghl.ErrBadSignature, "X-GHL-Signature"},
		{"unknown Ed25519 key", body, hdr(edSig(stranger, body), ""), keys, ghl.SchemeEd25519, ghl.ErrBadSignature, "matches none of 1 Ed25519 keys"},
		{"unknown RSA key", body, hdr("", rsaSig(t, rk[1], body)), keys, ghl.SchemeRSA, ghl.ErrBadSignature, "matches none of 1 RSA keys"},
		{"malformed base64, Ed25519", body, hdr("***", ""), keys, ghl.SchemeEd25519, ghl.ErrBadSignature, "not base64"},
		{"malformed base64, RSA", body, hdr("", "***"), keys, ghl.SchemeRSA, ghl.ErrBadSignature, "not base64"},
		{"signature of 63 bytes", body, hdr(b64(63), ""), keys, ghl.SchemeEd25519, ghl.ErrBadSignature, "is 63 bytes"},
		{"signature of 65 bytes", body, hdr(b64(65), ""), keys, ghl.SchemeEd25519, ghl.ErrBadSignature, "is 65 bytes"},
		{"RSA-sized signature in X-GHL-Signature", body, hdr(rsaSig(t, rk[0], body), ""), keys, ghl.SchemeEd25519, ghl.ErrBadSignature, "is 256 bytes"},
		{"no Ed25519 key trusted", body, hdr(edSig(ours, body), ""), ghl.WebhookKeys{RSA: keys.RSA}, ghl.SchemeEd25519, ghl.ErrBadSignature, "no Ed25519 key"},
		{"no RSA key trusted", body, hdr("", rsaSig(t, rk[0], body)), ghl.WebhookKeys{Ed25519: keys.Ed25519}, ghl.SchemeRSA, ghl.ErrBadSignature, "no RSA key"},
		{"no signature", body, hdr("", ""), keys, "", ghl.ErrNoSignature, "neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scheme, err := ghl.VerifyWebhook(tc.body, tc.h, tc.keys)
			if scheme != tc.scheme {
				t.Errorf("scheme %q, want %q", scheme, tc.scheme)
			}
			if tc.err == nil {
				if err != nil {
					t.Errorf("rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(fmtErr(err), tc.text) {
				t.Errorf("error %v, want %v mentioning %q", err, tc.err, tc.text)
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestDefaultEd25519KeyIsHighLevels: the built-in key is the one ../shared/ghl-facts.md
// publishes, and DefaultWebhookKeys holds it and the RSA key, one per scheme.
func TestDefaultEd25519KeyIsHighLevels(t *testing.T) {
	dir, err := ghlspec.Dir()
	if err != nil {
		t.Fatal(err)
	}
	facts, err := os.ReadFile(filepath.Join(dir, "..", "ghl-facts.md"))
	if err != nil {
		t.Fatal(err)
	}
	const published = "MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg="
	if !bytes.Contains(facts, []byte("`"+published+"`")) {
		t.Fatal("ghl-facts.md no longer publishes the key this test expects")
	}
	der, _ := base64.StdEncoding.DecodeString(published)
	want, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ghl.DefaultWebhookEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(want) {
		t.Error("embedded Ed25519 key differs from the published one")
	}
	keys, err := ghl.DefaultWebhookKeys()
	if err != nil || len(keys.Ed25519) != 1 || len(keys.RSA) != 1 || !keys.Ed25519[0].Equal(want) {
		t.Errorf("DefaultWebhookKeys = %d Ed25519, %d RSA (%v)", len(keys.Ed25519), len(keys.RSA), err)
	}

	// WithDefaults fills in HighLevel's key only where a scheme has none.
	ours := edKey(t).Public().(ed25519.PublicKey)
	for _, tc := range []struct {
		in           ghl.WebhookKeys
		filled       string
		ownEd, ownRS bool
	}{
		{ghl.WebhookKeys{}, "ed25519,rsa", false, false},
		{ghl.WebhookKeys{Ed25519: []ed25519.PublicKey{ours}}, "rsa", true, false},
		{ghl.WebhookKeys{RSA: []*rsa.PublicKey{&rsaKeys()[0].PublicKey}}, "ed25519", false, true},
		{ghl.WebhookKeys{Ed25519: []ed25519.PublicKey{ours}, RSA: []*rsa.PublicKey{&rsaKeys()[0].PublicKey}}, "", true, true},
	} {
		got, filled, err := tc.in.WithDefaults()
		var names []string
		for _, f := range filled {
			names = append(names, string(f))
		}
		if err != nil || strings.Join(names, ",") != tc.filled || len(got.Ed25519) != 1 || len(got.RSA) != 1 ||
			got.Ed25519[0].Equal(ours) != tc.ownEd || got.RSA[0].Equal(&rsaKeys()[0].PublicKey) != tc.ownRS {
			t.Errorf("WithDefaults(%d Ed25519, %d RSA) filled %q (%v)", len(tc.in.Ed25519), len(tc.in.RSA), names, err)
		}
	}
}

// TestParseWebhookKeys: each PEM block's key is sorted into its scheme by type; several
// blocks in one file are all read; anything else is refused with a message naming it.
func TestParseWebhookKeys(t *testing.T) {
	ed1, ed2 := edKey(t), edKey(t)
	rk := rsaKeys()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rk[1].PublicKey)})
	edPriv, _ := x509.MarshalPKCS8PrivateKey(ed1)
	rotation := bytes.Join([][]byte{[]byte("# HighLevel webhook keys, old and new\n"), pemOf(t, ed1.Public()), pemOf(t, ed2.Public()), pemOf(t, &rk[0].PublicKey), pkcs1}, nil)

	keys, err := ghl.ParseWebhookKeys(rotation)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Ed25519) != 2 || len(keys.RSA) != 2 || !keys.Ed25519[1].Equal(ed2.Public()) || !keys.RSA[1].Equal(&rk[1].PublicKey) {
		t.Errorf("parsed %d Ed25519 and %d RSA keys, want 2 and 2 in file order", len(keys.Ed25519), len(keys.RSA))
	}
	if d := keys.Describe(); len(d) != 4 || !strings.HasPrefix(d[0], "Ed25519 (X-GHL-Signature) sha256:") || !strings.HasPrefix(d[2], "RSA (X-WH-Signature, legacy) sha256:") {
		t.Errorf("Describe = %q", d)
	}

	for _, tc := range []struct {
		name, text, want string
	}{
		{"ECDSA key", string(pemOf(t, &ec.PublicKey)), "PEM block 1: an ECDSA key is not supported"},
		{"ECDSA after a good key", string(pemOf(t, ed1.Public())) + string(pemOf(t, &ec.PublicKey)), "PEM block 2: an ECDSA key is not supported"},
		{"private key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edPriv})), "is a private key"},
		{"certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", `unexpected PEM block "CERTIFICATE"`},
		{"not PEM", "MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=", "no PEM block"},
		{"garbage DER", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a public key"},
		{"text after the last block", string(pemOf(t, ed1.Public())) + "trailing", "text after PEM block 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ghl.ParseWebhookKeys([]byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	var k ghl.WebhookKeys
	if _, err := k.Add(&ec.PublicKey); err == nil || !strings.Contains(err.Error(), "Ed25519 (X-GHL-Signature) or RSA (X-WH-Signature") {
		t.Errorf("Add(ECDSA) = %v", err)
	}
}
