package config_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hlrz/hlrz/internal/config"
)

// docker-compose.yml cannot be run here (no Docker engine), so it is checked instead: it
// parses with the Compose loader, every service the README names exists, and the
// environment the product containers get is exactly what the binaries read.
func TestComposeFile(t *testing.T) {
	root := filepath.Join("..", "..")
	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: types.Mapping{"HLRZ_ENCRYPTION_KEYS": "test-key"},
	}, func(o *loader.Options) { o.SetProjectName("hlrz", true) })
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}

	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- compose-services: ([a-z, -]+) -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no <!-- compose-services: … --> line naming the stack's services")
	}
	for _, name := range regexp.MustCompile(`[a-z-]+`).FindAllString(string(m[1]), -1) {
		if _, err := project.GetService(name); err != nil {
			t.Errorf("README names service %q, docker-compose.yml has no such service", name)
		}
	}

	known := config.EnvNames()
	for _, name := range []string{"worker", "bridge"} {
		svc, err := project.GetService(name)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		if svc.Build == nil {
			t.Errorf("service %s is not built from this repo's Dockerfile", name)
		}
		var names []string
		for k := range svc.Environment {
			names = append(names, k)
			if !slices.Contains(known, k) {
				t.Errorf("service %s sets %s, which no binary reads", name, k)
			}
		}
		sort.Strings(names)
		for _, required := range []string{config.EnvDatabaseURL, config.EnvKeys, config.EnvTemporalAddr} {
			if !slices.Contains(names, required) {
				t.Errorf("service %s does not set %s", name, required)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(root, "Dockerfile")); err != nil {
		t.Errorf("Dockerfile missing: %v", err)
	}
}
