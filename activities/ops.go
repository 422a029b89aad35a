package activities

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hlrz/hlrz/internal/store"
)

// RecordDeadLetterName is Ops.RecordDeadLetter's registered name; workflows run it as a
// local activity by name, since a local activity given as a method value would be called
// on the workflow's nil receiver.
const RecordDeadLetterName = "RecordDeadLetter"

// Ops holds the small operational activities.
type Ops struct {
	Store store.Store
}

// RecordDeadLetter stores work that exhausted its retries, for `starter deadletters`.
func (o *Ops) RecordDeadLetter(ctx context.Context, in DeadLetterInput) (int64, error) {
	raw, err := json.Marshal(in.Input)
	if err != nil {
		return 0, fmt.Errorf("record dead letter for %s: encode input: %w", in.WorkflowID, err)
	}
	id, err := o.Store.AddDeadLetter(ctx, store.DeadLetter{
		ConnectionID: in.ConnectionID, LinkID: in.LinkID, WorkflowID: in.WorkflowID, RunID: in.RunID,
		Kind: in.Kind, Input: raw, Error: in.Error,
	})
	if err != nil {
		return 0, fmt.Errorf("record dead letter for %s: %w", in.WorkflowID, err)
	}
	return id, nil
}
