package setupapp

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/internal/dispatch"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/onboard"
	"github.com/hlrz/hlrz/internal/schedules"
	"github.com/hlrz/hlrz/internal/store"
)

// stateView is the connection's state as the page shows it.
type stateView struct {
	Installed     bool   `json:"installed"`
	Connection    string `json:"connection,omitempty"`
	Status        string `json:"status"` // not_installed, pending, active, paused, reconnect_required
	RZConnected   bool   `json:"rzConnected"`
	Backfill      string `json:"backfill"` // not_started, running, done, failed
	CustomMapping bool   `json:"customMapping"`
	Words         string `json:"words"` // the state in plain words
}

func (h *Handler) apiState(w http.ResponseWriter, r *http.Request, _ session, conn *store.Connection) {
	v, err := h.state(r, conn)
	if err != nil {
		h.fail(w, "read state", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *Handler) state(r *http.Request, conn *store.Connection) (stateView, error) {
	if conn == nil {
		return stateView{Status: "not_installed", Backfill: "not_started", Words: "The app is not installed on this location yet. Install it from the HighLevel marketplace, then come back here."}, nil
	}
	v := stateView{Installed: true, Connection: conn.ID, Status: string(conn.Status), CustomMapping: len(conn.Mapping) > 0}
	_, err := h.cfg.Store.GetToken(r.Context(), conn.ID, store.TokenReferrizer)
	switch {
	case err == nil:
		v.RZConnected = true
	case !errors.Is(err, store.ErrNotFound):
		return v, err
	}
	v.Backfill = h.backfillStatus(r, conn.ID)
	if v.Backfill == "done" {
		h.ensureSchedules(r.Context(), *conn)
	}
	v.Words = words(v, conn.StatusReason)
	return v, nil
}

func words(v stateView, reason string) string {
	switch {
	case v.Status == string(store.ConnReconnectRequired):
		return "HighLevel no longer lets us in (" + reason + "). Reinstall the app from the marketplace to reconnect."
	case !v.RZConnected:
		return "Installed. Referrizer is not connected yet: enter your Referrizer API token."
	case v.Status == string(store.ConnPaused):
		return "Syncing is paused. Nothing is copied between HighLevel and Referrizer until you resume."
	case v.Backfill == "running":
		return "Connected. The first sync is running."
	case v.Backfill == "done":
		return "Connected and syncing: changes on either side are copied to the other."
	case v.Backfill == "failed":
		return "Connected, but the first sync stopped with an error. Start it again; see Problems below."
	}
	return "Connected to Referrizer. Check the mapping, preview the first sync, then start it."
}

// backfillStatus describes the backfill workflow: not_started, running, done or failed.
func (h *Handler) backfillStatus(r *http.Request, connID string) string {
	ctx, cancel := bgctx(r, 5*time.Second)
	defer cancel()
	d, err := h.cfg.Temporal.DescribeWorkflowExecution(ctx, domain.BackfillWorkflowID(connID), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return "not_started"
	}
	if err != nil {
		h.log.Warn("setup page: describe backfill", "connection", connID, "error", err)
		return "unknown"
	}
	switch d.GetWorkflowExecutionInfo().GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "done"
	}
	return "failed"
}

func (h *Handler) apiToken(w http.ResponseWriter, r *http.Request, _ session, conn *store.Connection) {
	if conn == nil {
		writeError(w, http.StatusConflict, "Install the app on this location first.")
		return
	}
	var in struct {
		Token string `json:"token"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, "Send the token as JSON.")
		return
	}
	ctx, cancel := bgctx(r, 40*time.Second)
	defer cancel()
	saved, err := onboard.SetReferrizerToken(ctx, h.cfg.Store, *conn, h.cfg.RZBaseURL, strings.TrimSpace(in.Token))
	switch {
	case errors.Is(err, onboard.ErrRejected):
		writeError(w, http.StatusUnprocessableEntity, "Referrizer did not accept this API token. Copy it again from Referrizer (Settings → API) and paste it here. Nothing was saved.")
		return
	case err != nil:
		h.log.Warn("setup page: Referrizer token not saved", "connection", conn.ID, "error", err)
		writeError(w, http.StatusBadGateway, "We could not reach Referrizer to check the token. Nothing was saved; try again in a minute.")
		return
	}
	h.cfg.Conns.Forget(conn.ID)
	h.log.Info("setup page: Referrizer token saved", "connection", conn.ID)
	v, err := h.state(r, &saved)
	if err != nil {
		h.fail(w, "read state", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// ready answers the request itself (and returns false) when conn cannot sync yet.
func ready(w http.ResponseWriter, conn *store.Connection) bool {
	switch {
	case conn == nil:
		writeError(w, http.StatusConflict, "Install the app on this location first.")
	case conn.Status == store.ConnPending:
		writeError(w, http.StatusConflict, "Connect Referrizer first: enter your Referrizer API token.")
	case conn.Status == store.ConnReconnectRequired:
		writeError(w, http.StatusConflict, "Reinstall the app from the marketplace first: HighLevel no longer lets us in.")
	default:
		return true
	}
	return false
}

func (h *Handler) apiPreview(w http.ResponseWriter, r *http.Request, _ session, conn *store.Connection) {
	if !ready(w, conn) {
		return
	}
	if conn.Status == store.ConnPaused {
		writeError(w, http.StatusConflict, "Syncing is paused: resume it first.")
		return
	}
	ctx, cancel := bgctx(r, 25*time.Second)
	defer cancel()
	c, err := h.cfg.Conns.Get(ctx, conn.ID)
	if err != nil {
		h.fail(w, "open connection", err)
		return
	}
	p, err := h.cfg.Preview(ctx, c, domain.DefaultBackfillPageSize)
	if err != nil {
		h.fail(w, "preview", err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// apiStartBackfill starts the first sync (dispatch.StartBackfill, as `starter backfill`).
// The poll and reconcile schedules (`starter schedules install`) follow once it is done: a
// poll running beside the backfill would link and create people before the backfill matches
// them, and the first sync would then not be the one the preview showed.
func (h *Handler) apiStartBackfill(w http.ResponseWriter, r *http.Request, _ session, conn *store.Connection) {
	if !ready(w, conn) {
		return
	}
	if conn.Status == store.ConnPaused {
		writeError(w, http.StatusConflict, "Syncing is paused: resume it first.")
		return
	}
	ctx, cancel := bgctx(r, 15*time.Second)
	defer cancel()
	run, err := dispatch.StartBackfill(ctx, h.cfg.Temporal, h.cfg.TaskQueue, conn.ID)
	if err != nil {
		h.fail(w, "start the first sync", err)
		return
	}
	h.log.Info("setup page: backfill started", "connection", conn.ID)
	go h.scheduleAfter(context.WithoutCancel(r.Context()), run, *conn)
	writeJSON(w, http.StatusOK, map[string]string{"workflowId": run.GetID(), "runId": run.GetRunID()})
}

// scheduleAfter waits for the backfill and installs the connection's schedules. If this
// process stops first, the next state or progress read that sees the backfill done does it.
func (h *Handler) scheduleAfter(ctx context.Context, run client.WorkflowRun, conn store.Connection) {
	ctx, cancel := context.WithTimeout(ctx, 6*time.Hour)
	defer cancel()
	if err := run.Get(ctx, nil); err != nil {
		h.log.Warn("setup page: backfill did not finish; schedules not installed", "connection", conn.ID, "error", err)
		return
	}
	h.ensureSchedules(ctx, conn)
}

// ensureSchedules installs the schedules of a connection whose first sync is done, once per
// process (Install is idempotent; this only saves the calls).
func (h *Handler) ensureSchedules(ctx context.Context, conn store.Connection) {
	if conn.Status != store.ConnActive {
		return
	}
	if _, done := h.scheduled.Load(conn.ID); done {
		return
	}
	if err := h.schedules().Install(ctx, conn, 0, 0); err != nil {
		h.log.Warn("setup page: install schedules", "connection", conn.ID, "error", err)
		return
	}
	h.scheduled.Store(conn.ID, true)
	h.log.Info("setup page: schedules installed after the first sync", "connection", conn.ID)
}

func (h *Handler) apiProgress(w http.ResponseWriter, r *http.Request, _ session, conn *store.Connection) {
	if !ready(w, conn) {
		return
	}
	ctx, cancel := bgctx(r, 5*time.Second)
	defer cancel()
	var p domain.BackfillProgress
	v, err := h.cfg.Temporal.QueryWorkflow(ctx, domain.BackfillWorkflowID(conn.ID), "", domain.QueryProgress)
	if err == nil {
		err = v.Get(&p)
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		writeJSON(w, http.StatusOK, map[string]any{"started": false})
		return
	}
	if err != nil {
		// Between two runs of the continue-as-new chain a query can miss; the page asks again.
		writeJSON(w, http.StatusOK, map[string]any{"started": true, "retry": true})
		return
	}
	if p.Phase == domain.PhaseDone {
		h.ensureSchedules(r.Context(), *conn)
	}
	writeJSON(w, http.StatusOK, map[string]any{"started": true, "progress": p})
}

func (h *Handler) schedules() *schedules.Manager {
	return &schedules.Manager{Client: h.cfg.Temporal, TaskQueue: h.cfg.TaskQueue}
}

// apiPause stops syncing: the connection is paused (webhooks for it are ignored) and so are
// its poll and reconcile schedules, as an uninstall does. Resume undoes both.
func (h *Handler) apiPause(w http.ResponseWriter, r *http.Request, _ session, conn *store.Connection) {
	h.pauseResume(w, r, conn, store.ConnPaused)
}

func (h *Handler) apiResume(w http.ResponseWriter, r *http.Request, _ session, conn *store.Connection) {
	h.pauseResume(w, r, conn, store.ConnActive)
}

func (h *Handler) pauseResume(w http.ResponseWriter, r *http.Request, conn *store.Connection, to store.ConnectionStatus) {
	if !ready(w, conn) {
		return
	}
	ctx, cancel := bgctx(r, 15*time.Second)
	defer cancel()
	note := "paused from the setup page"
	op := h.schedules().Pause
	if to == store.ConnActive {
		note, op = "resumed from the setup page", h.schedules().Resume
	}
	var nf *serviceerror.NotFound
	if err := op(ctx, conn.ID, note); err != nil && !errors.As(err, &nf) {
		h.fail(w, "change schedules", err)
		return
	}
	reason := ""
	if to == store.ConnPaused {
		reason = note
	}
	if err := h.cfg.Store.SetConnectionStatus(ctx, conn.ID, to, reason); err != nil {
		h.fail(w, "change status", err)
		return
	}
	h.cfg.Conns.Forget(conn.ID)
	conn.Status = to
	v, err := h.state(r, conn)
	if err != nil {
		h.fail(w, "read state", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// problemView is a dead letter in words a business understands.
type problemView struct {
	ID     int64  `json:"id"`
	Person string `json:"person,omitempty"`
	// Candidates are the contacts to pick from for an undecided match.
	Candidates []candidateView `json:"candidates,omitempty"`
	What       string          `json:"what"`
	Detail     string          `json:"detail"`
	When       time.Time       `json:"when"`
	CanRedo    bool            `json:"canRedo"`
}

func (h *Handler) apiProblems(w http.ResponseWriter, r *http.Request, _ session, conn *store.Connection) {
	if conn == nil {
		writeJSON(w, http.StatusOK, map[string]any{"problems": []problemView{}})
		return
	}
	ds, err := h.cfg.Store.ListDeadLetters(r.Context(), conn.ID, store.DeadOpen, 100)
	if err != nil {
		h.fail(w, "list problems", err)
		return
	}
	out := make([]problemView, 0, len(ds))
	people := map[string]bool{}
	for _, d := range ds {
		p := problemView{ID: d.ID, Person: d.LinkID, Detail: d.Error, When: d.CreatedAt, CanRedo: d.Kind != onboard.KindAmbiguous}
		p.What = describeKind(d.Kind)
		p.Candidates = h.candidates(r.Context(), conn.ID, d)
		if d.LinkID != "" {
			people[d.LinkID] = true
		}
		out = append(out, p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"problems": out, "peopleInError": len(people)})
}

func describeKind(kind string) string {
	switch {
	case kind == onboard.KindAmbiguous, kind == domain.DeadAmbiguousMatch:
		return "Several people could be the same person, so we linked none of them. Pick the HighLevel contact that is this person, or dismiss this to leave them apart."
	case strings.HasPrefix(kind, "Rules."):
		return "An automation rule failed for this person. Fix the rule, then try again."
	case strings.HasPrefix(kind, "ContactSync."):
		return "This person could not be copied after several tries. Try again; if it keeps failing, check the person's details on both sides."
	}
	return "Something could not be done after several tries."
}

func (h *Handler) apiDeadLetter(w http.ResponseWriter, r *http.Request, _ session, conn *store.Connection) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || conn == nil {
		writeError(w, http.StatusNotFound, "No such problem.")
		return
	}
	d, err := h.cfg.Store.GetDeadLetter(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.ConnectionID != conn.ID) {
		writeError(w, http.StatusNotFound, "No such problem.")
		return
	} else if err != nil {
		h.fail(w, "read problem", err)
		return
	}
	switch r.PathValue("action") {
	case "replay":
		_, err = onboard.Replay(r.Context(), h.cfg.Store, h.cfg.Signal, d)
	case "discard":
		err = onboard.Discard(r.Context(), h.cfg.Store, d)
	case "resolve":
		err = h.resolve(r, conn, d)
	default:
		writeError(w, http.StatusNotFound, "Unknown action.")
		return
	}
	switch {
	case errors.Is(err, onboard.ErrNotReplayable), errors.Is(err, onboard.ErrGone), errors.Is(err, onboard.ErrNotOpen), errors.Is(err, onboard.ErrBadInput):
		writeError(w, http.StatusConflict, "This one cannot be retried: "+err.Error())
	case err != nil:
		h.fail(w, "handle problem", err)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"done": r.PathValue("action")})
	}
}
