package domain

import (
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Workflow type names.
const (
	ContactSyncName    = "ContactSync"
	TagSyncName        = "TagSync"
	NoteSyncName       = "NoteSync"
	TaskSyncName       = "TaskSync"
	BackfillName       = "Backfill"
	ReferrizerPollName = "ReferrizerPoll"
	ReconcileName      = "Reconcile"
)

// Signals, queries and updates.
const (
	SignalEvent      = "event"       // Event: something about a person changed
	SignalPersonDone = "person-done" // PersonDone: ContactSync → Backfill
	QueryState       = "state"       // ContactSync: ContactState
	QueryProgress    = "progress"    // Backfill: BackfillProgress; Reconcile: ReconcileState
	UpdateSyncNow    = "sync-now"    // ContactSync: run a pass now and return its result
)

// Search attributes the product registers and sets, so operators can filter in the UI
// (e.g. `HlrzConnection = "gym-1" AND HlrzStatus = "error"`).
var (
	SAConnection = temporal.NewSearchAttributeKeyKeyword("HlrzConnection")
	SAGHLID      = temporal.NewSearchAttributeKeyKeyword("HlrzGhlId")
	SARZID       = temporal.NewSearchAttributeKeyKeyword("HlrzRzId")
	SAStatus     = temporal.NewSearchAttributeKeyKeyword("HlrzStatus")
)

// Sync statuses stored in SAStatus.
const (
	StatusOK      = "ok"
	StatusError   = "error"
	StatusDeleted = "deleted"
)

// SearchAttributes lists the product's search attributes and their types, for registration.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SAConnection.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAGHLID.GetName():      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SARZID.GetName():       enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAStatus.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// ContactWorkflowID is the ID of a person's entity workflow.
func ContactWorkflowID(connectionID, linkID string) string {
	return "contact/" + connectionID + "/" + linkID
}

// ParseContactWorkflowID splits a ContactWorkflowID.
func ParseContactWorkflowID(id string) (connectionID, linkID string, err error) {
	parts := strings.Split(id, "/")
	if len(parts) != 3 || parts[0] != "contact" || parts[1] == "" || parts[2] == "" {
		return "", "", fmt.Errorf("%q is not a contact workflow id (contact/<connection>/<link>)", id)
	}
	return parts[1], parts[2], nil
}

// ChildWorkflowID is the deterministic ID of a person's child run for one object kind.
func ChildWorkflowID(connectionID, linkID, object string, seq int) string {
	return fmt.Sprintf("%s/%s-%d", ContactWorkflowID(connectionID, linkID), object, seq)
}

// BackfillWorkflowID is the ID of a connection's backfill.
func BackfillWorkflowID(connectionID string) string { return "backfill/" + connectionID }

// PollScheduleID and ReconcileScheduleID name a connection's schedules; the workflows they
// start get IDs prefixed with them.
func PollScheduleID(connectionID string) string      { return "rz-poll/" + connectionID }
func ReconcileScheduleID(connectionID string) string { return "reconcile/" + connectionID }
