package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/sim/simclient"
)

// TestRunServesBothSimulators starts the binary's run on free ports, reads the environment
// lines it prints, and drives both simulators through simclient: what a rehearsal (or the
// fault suite) does.
func TestRunServesBothSimulators(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	key := filepath.Join(t.TempDir(), "key.pem")
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--ghl-addr", "127.0.0.1:0", "--rz-addr", "127.0.0.1:0", "--webhook-key-out", key, "--ghl-location", "L1"}, func(string) string { return "" }, pw, io.Discard)
		pw.Close()
	}()
	env := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
		if strings.HasPrefix(sc.Text(), "hlrz-sims:") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if env["HLRZ_WEBHOOK_PUBLIC_KEYS"] != key {
		t.Fatalf("printed %v", env)
	}
	if b, err := os.ReadFile(key); err != nil || !strings.Contains(string(b), "PUBLIC KEY") {
		t.Fatalf("key file: %q %v", b, err)
	}
	g, rz := simclient.GHL{BaseURL: env["HLRZ_GHL_BASE_URL"]}, simclient.RZ{BaseURL: env["HLRZ_RZ_BASE_URL"]}
	c, err := g.CreateContact(ghlsim.Contact{LocationID: "L1", FirstName: "Ada", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddTags(c.ID, "vip"); err != nil {
		t.Fatal(err)
	}
	snap, err := g.Snapshot()
	if err != nil || len(snap.Contacts) != 1 || !slices.Contains(snap.Contacts[0].Tags, "vip") {
		t.Fatalf("snapshot %+v, %v", snap, err)
	}
	if _, err := rz.AdminCreateContact("sim-rz-token", rzsim.Contact{FirstName: "Ben", Email: "ben@example.com"}); err != nil {
		t.Fatal(err)
	}
	if cs, err := rz.Contacts("sim-rz-token"); err != nil || len(cs) != 1 {
		t.Fatalf("Referrizer contacts %+v, %v", cs, err)
	}
	if err := g.SetFaults(ghlsim.Faults{ErrorRate: 0.5, AppliedThenFailRate: 0.05}); err != nil {
		t.Fatal(err)
	}
	if err := rz.SetFaults(rzsim.Faults{ErrorRate: 0.5, AppliedThenFailRate: 0.05}); err != nil {
		t.Fatal(err)
	}
	if err := g.SetWebhooks(ghlsim.WebhookOptions{LossRate: 1}); err != nil {
		t.Fatal(err)
	}
	if o, err := g.Webhooks(); err != nil || o.LossRate != 1 {
		t.Fatalf("webhooks %+v, %v", o, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}
