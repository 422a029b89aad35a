package workflows_test

import (
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/hlrz/hlrz/internal/codec"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/workflows"
)

// testKeySpec is e2e.TestKeySpec: the committed histories were recorded by the end-to-end
// tests (HLRZ_RECORD_HISTORIES=1) with payloads sealed by this public test key.
const testKeySpec = "test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// Every workflow replays its committed histories without nondeterminism: a change to
// workflow code that would break running executions fails here, before it ships.
func TestReplayCommittedHistories(t *testing.T) {
	kr, err := secrets.Parse(testKeySpec)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, f := range files {
		for _, name := range []string{domain.ContactSyncName, domain.TagSyncName, domain.NoteSyncName, domain.TaskSyncName,
			domain.BackfillName, domain.ReferrizerPollName, domain.ReconcileName} {
			if strings.Contains(filepath.Base(f), "-"+name+"-") {
				covered[name] = true
			}
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: codec.DataConverter(kr)})
			if err != nil {
				t.Fatal(err)
			}
			workflows.Register(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
	for _, name := range []string{domain.ContactSyncName, domain.TagSyncName, domain.NoteSyncName, domain.TaskSyncName,
		domain.BackfillName, domain.ReferrizerPollName, domain.ReconcileName} {
		if !covered[name] {
			t.Errorf("no committed history replays workflow %s (record with HLRZ_RECORD_HISTORIES=1 go test ./internal/e2e/)", name)
		}
	}
}
