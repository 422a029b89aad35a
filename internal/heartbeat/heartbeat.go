// Package heartbeat keeps every Temporal activity heartbeating while it runs, so that when a
// worker dies (SIGKILL, OOM, a lost host) the server notices within the activity's
// HeartbeatTimeout and retries it on another worker, instead of waiting out its
// StartToCloseTimeout.
//
// The heartbeat says the attempt is alive, not that it makes progress: a hung HTTP call is
// bounded by the client's timeout and the attempt by StartToCloseTimeout. An activity that
// records progress details itself (a poll resuming from its last page) keeps them: the
// periodic heartbeat re-sends the last details the activity recorded.
package heartbeat

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
)

// MinInterval bounds how often the interceptor heartbeats; the SDK batches heartbeats to at
// most one per 80% of the timeout anyway.
const MinInterval = 500 * time.Millisecond

// New returns the worker interceptor. It heartbeats every third of an activity's
// HeartbeatTimeout; activities without one, and local activities, are left alone.
func New() interceptor.WorkerInterceptor { return &workerInterceptor{} }

type workerInterceptor struct {
	interceptor.WorkerInterceptorBase
}

func (w *workerInterceptor) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &inbound{}
	i.Next = next
	return i
}

// inbound is created for each activity execution.
type inbound struct {
	interceptor.ActivityInboundInterceptorBase
	out *outbound
}

func (i *inbound) Init(next interceptor.ActivityOutboundInterceptor) error {
	i.out = &outbound{}
	i.out.Next = next
	return i.Next.Init(i.out)
}

func (i *inbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	if info.IsLocalActivity || info.HeartbeatTimeout <= 0 {
		return i.Next.ExecuteActivity(ctx, in)
	}
	// Until the activity records its own progress, keep the previous attempt's: a beat
	// without details would erase it, and an attempt killed before its first progress
	// report would leave the next one nothing to resume from.
	if activity.HasHeartbeatDetails(ctx) {
		var prev converter.RawValue
		if err := activity.GetHeartbeatDetails(ctx, &prev); err == nil {
			i.out.details = []any{prev}
		}
	}
	every := max(info.HeartbeatTimeout/3, MinInterval)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				i.out.beat(ctx)
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
	})
	defer wg.Wait()
	defer close(stop)
	// No beat at the start: the server counts the timeout from the attempt's start until the
	// first heartbeat, so an activity shorter than a third of the timeout (most of them)
	// costs no heartbeat call at all.
	return i.Next.ExecuteActivity(ctx, in)
}

// outbound remembers the details the activity heartbeats with itself.
type outbound struct {
	interceptor.ActivityOutboundInterceptorBase
	mu      sync.Mutex
	details []any
}

func (o *outbound) RecordHeartbeat(ctx context.Context, details ...any) {
	o.mu.Lock()
	o.details = details
	o.mu.Unlock()
	o.Next.RecordHeartbeat(ctx, details...)
}

func (o *outbound) beat(ctx context.Context) {
	o.mu.Lock()
	details := o.details
	o.mu.Unlock()
	o.Next.RecordHeartbeat(ctx, details...)
}
