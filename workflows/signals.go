package workflows

import "go.temporal.io/sdk/workflow"

// consume calls fn, in a workflow goroutine, for every value sent on ch, in order.
//
// It waits for the channel to hold a value and then takes it, rather than blocking in
// Receive: a blocked Receive takes the value the moment the signal is delivered, before its
// goroutine runs, and if the workflow returns in that same task (continue-as-new, or a link
// that is gone) the value is lost with the goroutine. Waiting leaves the value in the
// channel, where the drain before returning finds it.
func consume[T any](ctx workflow.Context, ch workflow.ReceiveChannel, fn func(T)) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			if err := workflow.Await(ctx, func() bool { return ch.Len() > 0 }); err != nil {
				return // the workflow is being cancelled
			}
			for {
				var v T
				if !ch.ReceiveAsync(&v) {
					break
				}
				fn(v)
			}
		}
	})
}
