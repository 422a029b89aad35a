package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/store"
)

// The task scan: the HighLevel phase of a backfill ends by reading every task of the location
// with HighLevel's location-wide task search (POST /locations/{locationId}/tasks/search, in
// pages of taskScanPageSize), so a first pass takes a person's tasks from that read instead
// of one task read per person. HighLevel has no location-wide read of notes (only GET
// /contacts/{contactId}/notes), so notes are still read per person.
//
// The scan continues the HighLevel phase's cursor (its pages are BackfillPage calls like the
// contact pages; the workflow does not tell them apart), and stores, as HighLevel-side
// observations:
//   - taskObsPrefix + contact id: that contact's tasks seen so far by the scan;
//   - taskScanKey: the scan's completion, written only after its last page.
//
// Both carry the scan's start time as their ObservedAt: a task the scan read may have been
// read at any moment after it.
const (
	taskCursorPrefix = "tasks:"
	taskObsPrefix    = "tasks/"
	taskScanKey      = "tasks-scan"
	// taskScanPageSize: FindTaskContact reads pages of 100 too; HighLevel has been seen to
	// serve pages of 500.
	taskScanPageSize = 100
	// taskScanRestarts bounds how often a scan starts over because tasks were deleted under
	// it (see taskCursor); after that the phase ends without a complete scan and passes read
	// tasks per person, as before.
	taskScanRestarts = 3
)

// taskCursor is the scan's paging state, carried in the backfill cursor. The search pages by
// skip, so a task deleted while the scan runs shifts later tasks one place back and the next
// page would skip one. Each page therefore starts one task early, at the last task of the
// page before (Last): when that task is not on the page, tasks moved under the scan and it
// starts over.
type taskCursor struct {
	Scan     int64  // the scan's start (Unix ns): its id, and its observations' time
	Skip     int    // the next page's skip
	Last     string // the id of the previous page's last task ("" on the first page)
	Restarts int
}

func (c taskCursor) String() string {
	return fmt.Sprintf("%s%d:%d:%d:%s", taskCursorPrefix, c.Scan, c.Skip, c.Restarts, c.Last)
}

func parseTaskCursor(s string) (taskCursor, error) {
	f := strings.SplitN(strings.TrimPrefix(s, taskCursorPrefix), ":", 4)
	if len(f) != 4 {
		return taskCursor{}, configErr("bad task scan cursor %q", s)
	}
	var c taskCursor
	var err [3]error
	c.Scan, err[0] = strconv.ParseInt(f[0], 10, 64)
	c.Skip, err[1] = strconv.Atoi(f[1])
	c.Restarts, err[2] = strconv.Atoi(f[2])
	if e := errors.Join(err[:]...); e != nil || c.Skip < 0 {
		return taskCursor{}, configErr("bad task scan cursor %q", s)
	}
	c.Last = f[3]
	return c, nil
}

// firstTaskCursor is the cursor that follows the HighLevel phase's last contact page.
func (b *Backfill) firstTaskCursor() string {
	return taskCursor{Scan: b.now().UnixNano()}.String()
}

// taskObs is the body of a contact's task observation.
type taskObs struct {
	Scan  int64      `json:"scan"`
	Tasks []ghl.Task `json:"tasks"`
}

// tasksPage reads one page of the location's tasks and adds them to their contacts' task
// observations; after the last page it records the scan as complete.
func (b *Backfill) tasksPage(ctx context.Context, conn *connector.Conn, in BackfillPageInput) (BackfillPageResult, error) {
	cur, err := parseTaskCursor(in.Cursor)
	if err != nil {
		return BackfillPageResult{}, asTemporalError("backfill", err)
	}
	page, err := conn.GHL.SearchTasks(ctx, ghl.TaskSearchParams{Limit: taskScanPageSize, Skip: cur.Skip})
	if err != nil {
		return BackfillPageResult{}, asTemporalError("search HighLevel tasks", err)
	}
	tasks := page.Tasks
	if cur.Last != "" {
		i := slices.IndexFunc(tasks, func(t ghl.Task) bool { return t.ID == cur.Last })
		if i < 0 {
			return b.restartTaskScan(cur)
		}
		tasks = tasks[i+1:]
	}
	if err := b.addTaskObservations(ctx, in.ConnectionID, cur.Scan, tasks); err != nil {
		return BackfillPageResult{}, err
	}
	if page.Next == 0 {
		return BackfillPageResult{}, b.completeTaskScan(ctx, in.ConnectionID, cur.Scan)
	}
	next := taskCursor{Scan: cur.Scan, Skip: page.Next - 1, Last: page.Tasks[len(page.Tasks)-1].ID, Restarts: cur.Restarts}
	return BackfillPageResult{NextCursor: next.String()}, nil
}

// restartTaskScan starts the scan over (a new scan: the tasks read so far are not trusted)
// or, after taskScanRestarts, ends the phase without a complete scan.
func (b *Backfill) restartTaskScan(cur taskCursor) (BackfillPageResult, error) {
	if cur.Restarts >= taskScanRestarts {
		b.log().Warn("backfill: tasks kept moving under the task scan; first passes read tasks per person", "restarts", cur.Restarts)
		return BackfillPageResult{}, nil
	}
	next := taskCursor{Scan: b.now().UnixNano(), Restarts: cur.Restarts + 1}
	return BackfillPageResult{NextCursor: next.String()}, nil
}

// addTaskObservations merges a page's tasks into their contacts' observations of this scan
// (a contact's tasks may span pages; a task read twice is kept once).
func (b *Backfill) addTaskObservations(ctx context.Context, connID string, scan int64, tasks []ghl.Task) error {
	byContact := map[string][]ghl.Task{}
	var order []string
	for _, t := range tasks {
		if t.ContactID == "" {
			continue // a task of no contact is nobody's to project
		}
		if _, ok := byContact[t.ContactID]; !ok {
			order = append(order, t.ContactID)
		}
		byContact[t.ContactID] = append(byContact[t.ContactID], t)
	}
	at := time.Unix(0, scan)
	obs := make([]store.Observation, 0, len(order))
	for _, id := range order {
		body := taskObs{Scan: scan}
		if o, err := b.Store.GetObservation(ctx, connID, store.SideGHL, taskObsPrefix+id); err == nil {
			var prev taskObs
			if json.Unmarshal(o.Body, &prev) == nil && prev.Scan == scan {
				body = prev
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return asTemporalError("read task observation", err)
		}
		for _, t := range byContact[id] {
			if !slices.ContainsFunc(body.Tasks, func(p ghl.Task) bool { return p.ID == t.ID }) {
				body.Tasks = append(body.Tasks, t)
			}
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return asTemporalError("encode tasks", err)
		}
		obs = append(obs, store.Observation{ContactID: taskObsPrefix + id, Body: raw, ObservedAt: at})
	}
	if err := b.Store.PutObservations(ctx, connID, store.SideGHL, obs); err != nil {
		return asTemporalError("record HighLevel task page", err)
	}
	return nil
}

func (b *Backfill) completeTaskScan(ctx context.Context, connID string, scan int64) error {
	raw, _ := json.Marshal(taskObs{Scan: scan})
	if err := b.Store.PutObservations(ctx, connID, store.SideGHL, []store.Observation{
		{ContactID: taskScanKey, Body: raw, ObservedAt: time.Unix(0, scan)},
	}); err != nil {
		return asTemporalError("record HighLevel task scan", err)
	}
	return nil
}

// scannedTasks returns a person's tasks from the backfill's task scan, when the pass may use
// it: every event of the pass came from the backfill, the scan completed, is within the
// observation age bound and started after the person's tasks base was recorded (baseAt). A
// contact the complete scan did not see had no tasks. ok is false when the pass must read.
func (d *Core) scannedTasks(ctx context.Context, ttl time.Duration, connID, ghlID string, events []domain.Event, baseAt time.Time) (tasks []ghl.Task, ok bool) {
	if len(events) == 0 {
		return nil, false
	}
	for _, e := range events {
		if e.Source != domain.SourceBackfill {
			return nil, false
		}
	}
	var scan taskObs
	if _, ok := d.observed(ctx, ttl, connID, store.SideGHL, taskScanKey, baseAt, &scan); !ok {
		return nil, false
	}
	o, err := d.Store.GetObservation(ctx, connID, store.SideGHL, taskObsPrefix+ghlID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, true
	}
	var mine taskObs
	if err != nil || json.Unmarshal(o.Body, &mine) != nil {
		return nil, false
	}
	switch {
	case mine.Scan < scan.Scan:
		return nil, true // from an earlier scan; the complete one saw no task of theirs
	case mine.Scan > scan.Scan:
		return nil, false // a later scan that has not completed replaced what it saw
	}
	return mine.Tasks, true
}
