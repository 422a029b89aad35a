package heartbeat_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"

	"github.com/hlrz/hlrz/internal/heartbeat"
	"github.com/hlrz/hlrz/workflows"
)

// The helper process: a worker whose activity reports progress, says so on stdout and then
// hangs until the process is killed.
const (
	envAddr = "HLRZ_HEARTBEAT_HELPER_ADDR"
	envNS   = "HLRZ_HEARTBEAT_HELPER_NS"
	envTQ   = "HLRZ_HEARTBEAT_HELPER_TQ"
)

// blockWorkflow runs the Block activity with the product's heartbeat timeout and a
// StartToCloseTimeout far beyond it.
func blockWorkflow(ctx workflow.Context, hb time.Duration) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		HeartbeatTimeout:    hb,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5},
	})
	var out string
	err := workflow.ExecuteActivity(ctx, "Block").Get(ctx, &out)
	return out, err
}

func register(w worker.Worker, block func(context.Context) (string, error)) {
	w.RegisterWorkflowWithOptions(blockWorkflow, workflow.RegisterOptions{Name: "BlockWorkflow"})
	w.RegisterActivityWithOptions(block, activity.RegisterOptions{Name: "Block"})
}

func TestHelperWorkerProcess(t *testing.T) {
	addr := os.Getenv(envAddr)
	if addr == "" {
		t.Skip("runs only as the helper process of TestKilledWorkersActivityRetriedWithinHeartbeatTimeout")
	}
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: os.Getenv(envNS)})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(c, os.Getenv(envTQ), worker.Options{Interceptors: []interceptor.WorkerInterceptor{heartbeat.New()}})
	register(w, func(ctx context.Context) (string, error) {
		activity.RecordHeartbeat(ctx, "page-7")
		fmt.Println("STARTED")
		select {} // hangs without answering until SIGKILL
	})
	if err := w.Run(nil); err != nil {
		t.Fatal(err)
	}
}

// A worker killed with SIGKILL while its activity runs never answers; the activity is
// retried on another worker within the heartbeat timeout (not after its 2-minute
// StartToCloseTimeout), and the retry resumes from the progress the dead attempt recorded.
func TestKilledWorkersActivityRetriedWithinHeartbeatTimeout(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	tq := fmt.Sprintf("hb-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperWorkerProcess$", "-test.v")
	cmd.Env = append(os.Environ(), envAddr+"="+ts.GetFrontendHostPort(), envNS+"="+ts.GetDefaultNamespace(), envTQ+"="+tq)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "STARTED" {
				close(started)
			}
		}
	}()

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: tq}, "BlockWorkflow", workflows.HeartbeatTimeout)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the helper's activity never started")
	}
	// Let the activity run past the heartbeat timeout first: it is alive, so not retried.
	time.Sleep(workflows.HeartbeatTimeout + 2*time.Second)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	killed := time.Now()

	retried := make(chan time.Duration, 1)
	w := ts.NewWorkerWithOptions(tq, func(r worker.Registry) {}, worker.Options{Interceptors: []interceptor.WorkerInterceptor{heartbeat.New()}})
	register(w, func(ctx context.Context) (string, error) {
		info := activity.GetInfo(ctx)
		retried <- time.Since(killed)
		var progress string
		if activity.HasHeartbeatDetails(ctx) {
			_ = activity.GetHeartbeatDetails(ctx, &progress)
		}
		return fmt.Sprintf("attempt %d resumed from %q", info.Attempt, progress), nil
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	var out string
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	after := <-retried
	t.Logf("killed worker's activity retried on another worker %.1f s after SIGKILL (heartbeat timeout %s); result %q", after.Seconds(), workflows.HeartbeatTimeout, out)
	if limit := workflows.HeartbeatTimeout + 3*time.Second; after > limit {
		t.Errorf("retried %s after the kill, want within %s", after, limit)
	}
	if out != `attempt 2 resumed from "page-7"` {
		t.Errorf("result %q: want attempt 2 resuming from the dead attempt's progress", out)
	}
}

// An activity that runs longer than its heartbeat timeout without heartbeating itself is not
// timed out: the interceptor heartbeats for it, and its beats keep the progress an earlier
// attempt recorded, so the attempt after it still resumes from there.
func TestLongActivityKeptAliveByInterceptor(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	tq := fmt.Sprintf("hb-long-%d", time.Now().UnixNano())
	const hb = 2 * time.Second
	var secondDone atomic.Bool
	w := ts.NewWorkerWithOptions(tq, func(r worker.Registry) {}, worker.Options{Interceptors: []interceptor.WorkerInterceptor{heartbeat.New()}})
	register(w, func(ctx context.Context) (string, error) {
		info := activity.GetInfo(ctx)
		switch info.Attempt {
		case 1:
			activity.RecordHeartbeat(ctx, "page-3")
			return "", temporal.NewApplicationError("fail after recording progress", "Test")
		case 2:
			time.Sleep(3 * hb) // long, and no heartbeat of its own
			secondDone.Store(true)
			return "", temporal.NewApplicationError("fail after a long run", "Test")
		}
		var progress string
		_ = activity.GetHeartbeatDetails(ctx, &progress)
		return fmt.Sprintf("attempt %d from %q after attempt 2 ran to its end: %v", info.Attempt, progress, secondDone.Load()), nil
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: tq}, "BlockWorkflow", hb)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if want := `attempt 3 from "page-3" after attempt 2 ran to its end: true`; out != want {
		t.Errorf("result %q, want %q", out, want)
	}
}
