package devserver_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/internal/devserver"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func start(t *testing.T, cfg devserver.Config) *devserver.Server {
	t.Helper()
	s, err := devserver.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start dev server: %v", err)
	}
	return s
}

// A restart on the same data directory keeps workflow history, search attributes included,
// and the UI answers.
func TestRestartKeepsHistory(t *testing.T) {
	dir := t.TempDir()
	cfg := devserver.Config{
		DataDir: dir, Port: freePort(t), UIPort: freePort(t),
		SearchAttributes: map[string]enumspb.IndexedValueType{"HlrzConnection": enumspb.INDEXED_VALUE_TYPE_KEYWORD},
	}
	s := start(t, cfg)
	resp, err := http.Get(s.UIAddress())
	if err != nil {
		t.Fatalf("UI: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("UI answered %d, want 200", resp.StatusCode)
	}
	c, err := client.Dial(client.Options{HostPort: s.FrontendAddress(), Namespace: s.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "survives-restart", TaskQueue: "nobody-polls"}, "SomeWorkflow", "arg")
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	c.Close()
	s.Stop()

	s = start(t, cfg)
	defer s.Stop()
	c, err = client.Dial(client.Options{HostPort: s.FrontendAddress(), Namespace: s.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, "survives-restart", "")
	if err != nil {
		t.Fatalf("workflow from the first run is gone: %v", err)
	}
	if got := desc.WorkflowExecutionInfo.Execution.RunId; got != run.GetRunID() {
		t.Errorf("run id = %s, want %s", got, run.GetRunID())
	}
	if desc.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("status = %v, want RUNNING", desc.WorkflowExecutionInfo.Status)
	}
	sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	if sa.CustomAttributes["HlrzConnection"] != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
		t.Errorf("search attribute HlrzConnection not registered: %v", sa.CustomAttributes)
	}
}

func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = devserver.Start(context.Background(), devserver.Config{
		DataDir: t.TempDir(), Port: l.Addr().(*net.TCPAddr).Port, UIPort: -1,
	})
	if !errors.Is(err, devserver.ErrPortInUse) {
		t.Fatalf("err = %v, want ErrPortInUse", err)
	}
}
