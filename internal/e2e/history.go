package e2e

import (
	"os"

	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// historyJSON collects events and writes them as the JSON the SDK's replayer reads
// (worker.WorkflowReplayer.ReplayWorkflowHistoryFromJSONFile).
type historyJSON struct{ h historypb.History }

func (h *historyJSON) add(ev *historypb.HistoryEvent) { h.h.Events = append(h.h.Events, ev) }

func (h *historyJSON) write(path string) error {
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&h.h)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
