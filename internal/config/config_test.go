package config_test

import (
	"path/filepath"
	"strings"
	"testing"

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
