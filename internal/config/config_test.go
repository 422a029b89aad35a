package config_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/config"
	"github.com/hlrz/hlrz/internal/secrets"
)

func env(m map[string]string) config.Getenv { return func(k string) string { return m[k] } }

func TestBadConfigurationIsOneClearLine(t *testing.T) {
	key := secrets.GenerateSpec("k1")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // the variable or flag the message must name
	}{
		{"missing database", nil, map[string]string{config.EnvKeys: key}, "DATABASE_URL: not set"},
		{"malformed database url", nil, map[string]string{config.EnvKeys: key, config.EnvDatabaseURL: "postgres://u:p@host:99999/db"}, "DATABASE_URL: port"},
		{"database url without db", nil, map[string]string{config.EnvKeys: key, config.EnvDatabaseURL: "postgres://u:p@host:5432"}, "DATABASE_URL: no database name"},
		{"garbage database url", nil, map[string]string{config.EnvKeys: key, config.EnvDatabaseURL: "mysql:whatever"}, "DATABASE_URL: expected"},
		{"missing key", nil, map[string]string{config.EnvDatabaseURL: "postgres://h/db"}, "HLRZ_ENCRYPTION_KEYS: not set"},
		{"short key", nil, map[string]string{config.EnvDatabaseURL: "postgres://h/db", config.EnvKeys: "c2hvcnQ="}, "HLRZ_ENCRYPTION_KEYS entry 1"},
		{"bad listen", nil, map[string]string{config.EnvDatabaseURL: "postgres://h/db", config.EnvKeys: key, config.EnvListen: "8080"}, "HLRZ_LISTEN"},
		{"bad internal listen", nil, map[string]string{config.EnvDatabaseURL: "postgres://h/db", config.EnvKeys: key, config.EnvInternal: "8081"}, "HLRZ_INTERNAL_LISTEN"},
		{"internal on the public listener", nil, map[string]string{config.EnvDatabaseURL: "postgres://h/db", config.EnvKeys: key, config.EnvListen: "0.0.0.0:8080", config.EnvInternal: "0.0.0.0:8080"}, "HLRZ_INTERNAL_LISTEN"},
		{"dev off loopback", []string{"--dev", "--data-dir", "x", "--listen", "0.0.0.0:8080"}, nil, "HLRZ_LISTEN: \"0.0.0.0:8080\" is not a loopback address"},
		{"dev internal off loopback", []string{"--dev", "--data-dir", "x", "--internal-listen", "10.0.0.1:8081"}, nil, "HLRZ_INTERNAL_LISTEN"},
		{"short codec token", nil, map[string]string{config.EnvDatabaseURL: "postgres://h/db", config.EnvKeys: key, config.EnvCodecToken: "short"}, "HLRZ_CODEC_TOKEN"},
		{"ui origin with a path", nil, map[string]string{config.EnvDatabaseURL: "postgres://h/db", config.EnvKeys: key, config.EnvUIOrigin: "https://ui.example.com/x"}, "HLRZ_UI_ORIGIN"},
		{"bad webhook concurrency", nil, map[string]string{config.EnvDatabaseURL: "postgres://h/db", config.EnvKeys: key, config.EnvWebhookConc: "0"}, "HLRZ_WEBHOOK_MAX_CONCURRENT"},
		{"bad inbox retention", nil, map[string]string{config.EnvDatabaseURL: "postgres://h/db", config.EnvKeys: key, config.EnvInboxRetain: "week"}, "HLRZ_INBOX_RETENTION"},
		{"webhook ids forgotten inside the window", nil, map[string]string{config.EnvDatabaseURL: "postgres://h/db", config.EnvKeys: key, config.EnvInboxRetain: "10m", config.EnvInboxKeys: "30m"}, "HLRZ_INBOX_KEY_RETENTION"},
		{"observations kept shorter than used", nil, map[string]string{config.EnvDatabaseURL: "postgres://h/db", config.EnvKeys: key, config.EnvObsRetain: "10m"}, "HLRZ_OBSERVATION_RETENTION"},
		{"zero read timeout", []string{"--http-read-timeout", "0s"}, map[string]string{config.EnvDatabaseURL: "postgres://h/db", config.EnvKeys: key}, "--http-read-timeout"},
		{"bad mode", []string{"--mode", "everything"}, map[string]string{}, "--mode"},
		{"bad log level", nil, map[string]string{config.EnvLogLevel: "loud"}, "HLRZ_LOG_LEVEL"},
		{"bad base url", nil, map[string]string{config.EnvDatabaseURL: "postgres://h/db", config.EnvKeys: key, config.EnvGHLBaseURL: "ftp://x"}, "HLRZ_GHL_BASE_URL"},
		{"unknown flag", []string{"--nope"}, nil, "flags:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.ParseWorker(tc.args, env(tc.env))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tc.want)
			}
			if strings.Contains(msg, "u:p@") {
				t.Errorf("error echoes credentials: %q", msg)
			}
		})
	}
}

func TestDevNeedsNothingAndKeepsItsKey(t *testing.T) {
	dir := t.TempDir()
	c, err := config.ParseWorker([]string{"--dev", "--data-dir", dir}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Keys == nil || c.KeysSource != filepath.Join(dir, "dev-encryption.key") || c.DatabaseURL != "" {
		t.Fatalf("dev config = %+v", c)
	}
	if c.GHLBaseURL != "http://127.0.0.1:8091" || c.RZBaseURL != "http://127.0.0.1:8092" {
		t.Errorf("dev base URLs = %s %s", c.GHLBaseURL, c.RZBaseURL)
	}
	again, err := config.ParseWorker([]string{"--dev", "--data-dir", dir}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if again.Keys.PrimaryID() != c.Keys.PrimaryID() {
		t.Error("dev key changed between starts")
	}
	// Same key material: what one sealed the other opens.
	sealed := c.Keys.SealString("x", nil)
	if v, err := again.Keys.OpenString(sealed, nil); err != nil || v != "x" {
		t.Errorf("second start cannot open the first start's secrets: %v", err)
	}
}

// TestWebhookSettings: HLRZ_WEBHOOK_PUBLIC_KEYS takes PEM files holding keys of either type
// (several per file and per scheme), sorts each key into its scheme and says which; an
// unsupported key or a missing file is one line naming the variable and the file.
// HLRZ_WEBHOOK_MAX_AGE defaults to 75 minutes.
func TestWebhookSettings(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, pubs ...any) string {
		var text []byte
		for _, p := range pubs {
			der, err := x509.MarshalPKIXPublicKey(p)
			if err != nil {
				t.Fatal(err)
			}
			text = append(text, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, text, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ed1, _, _ := ed25519.GenerateKey(rand.Reader)
	ed2, _, _ := ed25519.GenerateKey(rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rotation := write("rotation.pem", ed1, ed2)
	legacy := write("legacy.pem", &rk.PublicKey)
	bad := write("ecdsa.pem", &ec.PublicKey)
	base := map[string]string{config.EnvDatabaseURL: "postgres://h/db", config.EnvKeys: secrets.GenerateSpec("k1")}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	c, err := config.ParseWorker(nil, env(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.WebhookKeys.Len() != 0 || c.WebhookMaxAge != 75*time.Minute || c.WebhookMaxSkew != 5*time.Minute {
		t.Errorf("defaults: %d keys, max age %s, max skew %s; want none (HighLevel's), 75m, 5m", c.WebhookKeys.Len(), c.WebhookMaxAge, c.WebhookMaxSkew)
	}

	c, err = config.ParseWorker(nil, env(with(config.EnvWebhookKey, rotation+", "+legacy+",highlevel", config.EnvWebhookMaxAge, "80m")))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.WebhookKeys.Ed25519) != 3 || len(c.WebhookKeys.RSA) != 2 || c.WebhookMaxAge != 80*time.Minute {
		t.Errorf("%d Ed25519 and %d RSA keys, max age %s; want 3, 2 (two files and HighLevel's), 80m", len(c.WebhookKeys.Ed25519), len(c.WebhookKeys.RSA), c.WebhookMaxAge)
	}
	notes := strings.Join(c.WebhookKeyNotes, "\n")
	for _, want := range []string{rotation + ": Ed25519 (X-GHL-Signature) sha256:", legacy + ": RSA (X-WH-Signature, legacy) sha256:", "HighLevel's published key: Ed25519 (X-GHL-Signature)"} {
		if !strings.Contains(notes, want) {
			t.Errorf("key notes lack %q:\n%s", want, notes)
		}
	}
	if flagged, err := config.ParseWorker([]string{"--webhook-max-age", "2h"}, env(base)); err != nil || flagged.WebhookMaxAge != 2*time.Hour {
		t.Errorf("--webhook-max-age 2h: %v, %v", flagged.WebhookMaxAge, err)
	}

	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"ECDSA key", with(config.EnvWebhookKey, bad), "HLRZ_WEBHOOK_PUBLIC_KEYS: " + bad + ": ghl: webhook key in PEM block 1: an ECDSA key is not supported"},
		{"missing file", with(config.EnvWebhookKey, filepath.Join(dir, "nope.pem")), "HLRZ_WEBHOOK_PUBLIC_KEYS: open " + filepath.Join(dir, "nope.pem")},
		{"bad max age", with(config.EnvWebhookMaxAge, "soon"), "HLRZ_WEBHOOK_MAX_AGE: \"soon\" is not a positive duration"},
		{"negative max age", with(config.EnvWebhookMaxAge, "-5m"), "HLRZ_WEBHOOK_MAX_AGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.ParseWorker(nil, env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v: want one line containing %q", err, tc.want)
			}
		})
	}
}

// README's configuration table names every setting the binaries read.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range config.EnvNames() {
		if strings.HasPrefix(name, "HLRZ_") && !regexp.MustCompile("(?m)^\\| [^|]*`"+name+"`").Match(readme) {
			t.Errorf("README's configuration table does not list %s", name)
		}
	}
}
