package usercontext_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/hlrz/hlrz/internal/usercontext"
)

const secret = "9f1c2e-shared-secret-of-the-app"

const userJSON = `{"userId":"u1","companyId":"c1","role":"admin","type":"account","activeLocation":"loc1","userName":"Ann","email":"ann@example.com"}`

// openssl enc with -md md5 is the reference implementation of the passphrase format
// CryptoJS uses (EVP_BytesToKey/MD5, "Salted__" header): a payload it makes must open.
func TestDecryptOpenSSLPayload(t *testing.T) {
	cmd := exec.Command("openssl", "enc", "-aes-256-cbc", "-md", "md5", "-a", "-A", "-pass", "pass:"+secret)
	cmd.Stdin = strings.NewReader(userJSON)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("openssl enc: %v: %s", err, errb.String())
	}
	u, err := usercontext.Decrypt(out.String(), secret)
	if err != nil {
		t.Fatalf("Decrypt(openssl payload): %v", err)
	}
	if u.UserID != "u1" || u.ActiveLocation != "loc1" || u.CompanyID != "c1" || u.Type != "account" || u.Email != "ann@example.com" {
		t.Fatalf("user = %+v", u)
	}
}

// What Encrypt makes, openssl opens: the simulator's frame speaks HighLevel's format.
func TestEncryptOpensWithOpenSSL(t *testing.T) {
	p, err := usercontext.EncryptBytes([]byte(userJSON), secret)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("openssl", "enc", "-d", "-aes-256-cbc", "-md", "md5", "-a", "-A", "-pass", "pass:"+secret)
	cmd.Stdin = strings.NewReader(p)
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl enc -d: %v", err)
	}
	if string(got) != userJSON {
		t.Fatalf("openssl decrypted %q", got)
	}
}

func TestDecryptRefuses(t *testing.T) {
	good, err := usercontext.EncryptBytes([]byte(userJSON), secret)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(good)
	tampered := append([]byte(nil), raw...)
	tampered[len(tampered)-20] ^= 0x55 // second-to-last block: garbles the JSON, padding intact
	lastBlock := append([]byte(nil), raw...)
	lastBlock[len(lastBlock)-1] ^= 0x01
	noLoc, _ := usercontext.EncryptBytes([]byte(`{"userId":"u1"}`), secret)
	for name, c := range map[string]struct{ payload, secret string }{
		"wrong secret":       {good, "another-secret"},
		"tampered body":      {base64.StdEncoding.EncodeToString(tampered), secret},
		"tampered padding":   {base64.StdEncoding.EncodeToString(lastBlock), secret},
		"not base64":         {"%%%", secret},
		"no salt header":     {base64.StdEncoding.EncodeToString(raw[8:]), secret},
		"no activeLocation":  {noLoc, secret},
		"empty":              {"", secret},
		"no secret":          {good, ""},
		"too large":          {strings.Repeat("A", usercontext.MaxPayloadBytes+4), secret},
		"plain JSON, no AES": {base64.StdEncoding.EncodeToString([]byte(userJSON)), secret},
	} {
		if u, err := usercontext.Decrypt(c.payload, c.secret); !errors.Is(err, usercontext.ErrInvalid) {
			t.Errorf("%s: Decrypt = %+v, %v; want ErrInvalid", name, u, err)
		}
	}
	if u, err := usercontext.Decrypt(good, secret); err != nil || u.ActiveLocation != "loc1" {
		t.Fatalf("good payload: %+v, %v", u, err)
	}
}
