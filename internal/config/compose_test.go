package config_test

import (
	"context"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"go.temporal.io/server/common/dynamicconfig"

	"github.com/hlrz/hlrz/internal/config"
	"github.com/hlrz/hlrz/internal/devserver"
)

var root = filepath.Join("..", "..")

// composeEnv is what the operator exports; each value is a sentinel the test looks for.
// (The loader adds to the map it is given, so each load gets a copy.)
var composeEnv = map[string]string{
	"POSTGRES_USER":        "user-from-env",
	"POSTGRES_PASSWORD":    "password-from-env",
	"HLRZ_ENCRYPTION_KEYS": "keys-from-env",
	"HLRZ_CODEC_TOKEN":     "codec-token-from-env",
}

func loadCompose(env map[string]string) (*types.Project, error) {
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: types.Mapping(maps.Clone(env)),
	}, func(o *loader.Options) { o.SetProjectName("hlrz", true) })
}

// docker-compose.yml cannot be run here (no Docker engine), so it is checked instead: it
// parses with the Compose loader, every service the README names exists, and the
// environment the product containers get is exactly what the binaries read.
func TestComposeFile(t *testing.T) {
	project, err := loadCompose(composeEnv)
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
		for _, required := range []string{config.EnvDatabaseURL, config.EnvKeys, config.EnvTemporalAddr, config.EnvCodecToken} {
			if !slices.Contains(names, required) {
				t.Errorf("service %s does not set %s", name, required)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(root, "Dockerfile")); err != nil {
		t.Errorf("Dockerfile missing: %v", err)
	}
}

// No secret is written in the file: every password, key and token comes from the
// environment, and a missing one stops `docker compose` with a message naming it.
func TestComposeSecretsFromEnvironment(t *testing.T) {
	project, err := loadCompose(composeEnv)
	if err != nil {
		t.Fatal(err)
	}
	secret := regexp.MustCompile(`PASSWORD|PWD|SECRET|TOKEN|KEYS|DATABASE_URL`)
	for _, svc := range project.Services {
		for k, v := range svc.Environment {
			if !secret.MatchString(k) || v == nil || *v == "" {
				continue
			}
			fromEnv := false
			for _, sentinel := range composeEnv {
				fromEnv = fromEnv || strings.Contains(*v, sentinel)
			}
			if !fromEnv {
				t.Errorf("service %s: %s is written in the file (%q), not taken from the environment", svc.Name, k, *v)
			}
		}
	}
	for name := range composeEnv {
		env := map[string]string{}
		for k, v := range composeEnv {
			if k != name {
				env[k] = v
			}
		}
		_, err := loadCompose(env)
		if err == nil || !strings.Contains(err.Error(), "set "+name) {
			t.Errorf("without %s: %v; want an error saying to set it", name, err)
		}
	}
}

// docker-compose behaves like --dev: HLRZ_PUBLIC_URL reaches the listener that serves
// /oauth/*, only public listeners are published beyond the host, the UI's codec endpoint is
// the worker's internal listener with credentials, and Temporal runs a current image with
// the dynamic config --dev gives its embedded server.
func TestComposeBehavesLikeDev(t *testing.T) {
	project, err := loadCompose(composeEnv)
	if err != nil {
		t.Fatal(err)
	}
	flag := func(svc types.ServiceConfig, name string) string {
		for i, a := range svc.Command {
			if a == name && i+1 < len(svc.Command) {
				return svc.Command[i+1]
			}
		}
		return ""
	}
	port := func(addr string) string {
		_, p, _ := net.SplitHostPort(addr)
		return p
	}

	// The public URL's port is published by a service whose public listener serves /oauth/*.
	bridge, _ := project.GetService("bridge")
	pub, err := url.Parse(*bridge.Environment[config.EnvPublicURL])
	if err != nil {
		t.Fatal(err)
	}
	routed := ""
	for _, svc := range project.Services {
		for _, p := range svc.Ports {
			if p.Published != pub.Port() {
				continue
			}
			routed = svc.Name
			if mode := flag(svc, "--mode"); mode != string(config.ModeBridge) && mode != string(config.ModeAll) {
				t.Errorf("%s (%s) is published by %s, which runs --mode %s and serves no /oauth/*", config.EnvPublicURL, pub, svc.Name, mode)
			}
			if listen := port(flag(svc, "--listen")); strings.TrimSpace(listen) != "" && p.Target != mustAtoi(t, listen) {
				t.Errorf("%s publishes %s to container port %d, but its public listener is on %s", svc.Name, p.Published, p.Target, listen)
			}
		}
	}
	if routed == "" {
		t.Errorf("%s (%s): no service publishes port %s", config.EnvPublicURL, pub, pub.Port())
	}

	// Internal listeners are never published beyond the host's loopback.
	for _, name := range []string{"worker", "bridge"} {
		svc, _ := project.GetService(name)
		internal := flag(svc, "--internal-listen")
		if internal == "" {
			t.Errorf("%s sets no --internal-listen", name)
			continue
		}
		for _, p := range svc.Ports {
			if p.Target == mustAtoi(t, port(internal)) && p.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes its internal listener (%d) on %q, not loopback", name, p.Target, p.HostIP)
			}
		}
	}

	// The UI decodes through the worker's internal listener, with credentials, and that
	// origin is the one CORS admits.
	ui, _ := project.GetService("temporal-ui")
	worker, _ := project.GetService("worker")
	endpoint, err := url.Parse(*ui.Environment["TEMPORAL_CODEC_ENDPOINT"])
	if err != nil {
		t.Fatal(err)
	}
	if v := ui.Environment["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"]; v == nil || *v != "true" {
		t.Error("temporal-ui does not include credentials in codec requests")
	}
	codecOK := false
	for _, p := range worker.Ports {
		codecOK = codecOK || (p.Published == endpoint.Port() && p.Target == mustAtoi(t, port(flag(worker, "--internal-listen"))))
	}
	if !codecOK || endpoint.Path != "/codec" {
		t.Errorf("TEMPORAL_CODEC_ENDPOINT %s is not the worker's internal listener", endpoint)
	}
	uiOrigin := ""
	for _, p := range ui.Ports {
		uiOrigin = "http://localhost:" + p.Published
	}
	if v := worker.Environment[config.EnvUIOrigin]; v == nil || *v != uiOrigin {
		t.Errorf("worker's %s is %v, want the UI's origin %s", config.EnvUIOrigin, v, uiOrigin)
	}

	// Temporal: a current image (not the deprecated auto-setup), and the dynamic config file
	// of the repo with the timer settings of devserver.DynamicConfig.
	temporal, err := project.GetService("temporal")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(temporal.Image, "auto-setup") || !strings.HasPrefix(temporal.Image, "temporalio/server:") {
		t.Errorf("temporal runs %s; want temporalio/server (auto-setup is deprecated)", temporal.Image)
	}
	for _, svc := range project.Services {
		if strings.Contains(svc.Image, "auto-setup") {
			t.Errorf("%s runs the deprecated %s", svc.Name, svc.Image)
		}
	}
	dcPath := temporal.Environment["DYNAMIC_CONFIG_FILE_PATH"]
	if dcPath == nil {
		t.Fatal("temporal has no DYNAMIC_CONFIG_FILE_PATH")
	}
	source := ""
	for _, v := range temporal.Volumes {
		if v.Target == *dcPath {
			source = v.Source
		}
	}
	if source == "" {
		t.Fatalf("no volume mounts a file at DYNAMIC_CONFIG_FILE_PATH %s", *dcPath)
	}
	raw, err := os.ReadFile(source)
	if err != nil {
		t.Fatalf("dynamic config file: %v", err)
	}
	var file map[string][]struct {
		Value any `yaml:"value"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	want := devserver.DynamicConfig()
	for _, k := range []dynamicconfig.Key{dynamicconfig.TimerProcessorMaxTimeShift.Key(), dynamicconfig.TimerProcessorMaxPollRPS.Key()} {
		key := k.String()
		var got []struct {
			Value any `yaml:"value"`
		}
		for fk, fv := range file {
			if strings.EqualFold(fk, key) {
				got = fv
			}
		}
		var wantV any
		if cv := want.GetValue(k); len(cv) == 1 {
			wantV = cv[0].Value
		}
		if len(got) != 1 || !sameValue(got[0].Value, wantV) {
			t.Errorf("%s: %s = %v, want %v (devserver.DynamicConfig)", source, key, got, wantV)
		}
	}
}

func sameValue(got, want any) bool {
	switch w := want.(type) {
	case time.Duration:
		s, _ := got.(string)
		d, err := time.ParseDuration(s)
		return err == nil && d == w
	case int:
		g, ok := got.(int)
		return ok && g == w
	}
	return false
}

func mustAtoi(t *testing.T, s string) uint32 {
	t.Helper()
	var n uint32
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a port", s)
		}
		n = n*10 + uint32(c-'0')
	}
	return n
}
