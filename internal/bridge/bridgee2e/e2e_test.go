package bridgee2e_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/hlrz/hlrz/internal/bridge"
	"github.com/hlrz/hlrz/internal/devserver"
	"github.com/hlrz/hlrz/internal/dispatch"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/postgres"
	"github.com/hlrz/hlrz/internal/testutil/pgtest"
)

const (
	taskQueue   = "hlrz-e2e"
	location    = "LocE2E00000000000001"
	connID      = "gym-e2e"
	queryEvents = "e2e-events"
)

// recorded is what the stand-in ContactSync saw.
type recorded struct {
	Input  domain.ContactSyncInput `json:"input"`
	Events []domain.Event          `json:"events"`
}

// contactSyncStandIn is registered under domain.ContactSyncName: it records its input and
// every event signal, so the test sees exactly what the bridge delivered without running the
// sync activities (which need both APIs).
func contactSyncStandIn(ctx workflow.Context, in domain.ContactSyncInput) error {
	rec := recorded{Input: in}
	if err := workflow.SetQueryHandler(ctx, queryEvents, func() (recorded, error) { return rec, nil }); err != nil {
		return err
	}
	ch := workflow.GetSignalChannel(ctx, domain.SignalEvent)
	for {
		var ev domain.Event
		ch.Receive(ctx, &ev)
		rec.Events = append(rec.Events, ev)
	}
}

// sign makes an X-GHL-Signature: Ed25519 over the body, base64.
func sign(k ed25519.PrivateKey, body []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(k, body))
}

func event(typ string, fields map[string]any) []byte {
	m := map[string]any{"type": typ, "locationId": location, "webhookId": fmt.Sprintf("e2e-%s-%d", typ, time.Now().UnixNano()),
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano)}
	for k, v := range fields {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

func webhookID(body []byte) string {
	var m struct {
		WebhookID string `json:"webhookId"`
	}
	_ = json.Unmarshal(body, &m)
	return m.WebhookID
}

// TestWebhookBecomesSignalWithStart posts signed webhooks to the real handler and checks the
// relay, through the real dispatch.Dispatcher, signal-with-starts contact/<connection>/<link>
// on a real Temporal server, once per event.
func TestWebhookBecomesSignalWithStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ts := temporaltest.NewServer(temporaltest.WithT(t),
		temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(devserver.DynamicConfig())))
	tc := ts.GetDefaultClient()
	// Dispatch sets the HlrzConnection search attribute, which must exist on the namespace.
	if _, err := tc.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: ts.GetDefaultNamespace(), SearchAttributes: domain.SearchAttributes(),
	}); err != nil {
		var exists *serviceerror.AlreadyExists
		if !errors.As(err, &exists) {
			t.Fatalf("register search attributes: %v", err)
		}
	}
	ts.NewWorker(taskQueue, func(r worker.Registry) {
		r.RegisterWorkflowWithOptions(contactSyncStandIn, workflow.RegisterOptions{Name: domain.ContactSyncName})
	})

	st, err := postgres.Open(ctx, pgtest.NewDatabase(t), secrets.NewRandom())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if _, err := st.PutConnection(ctx, store.Connection{ID: connID, GHLLocationID: location}); err != nil {
		t.Fatal(err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bridge.New(bridge.Config{
		Store: st, Signaler: &dispatch.Dispatcher{Client: tc, TaskQueue: taskQueue}, Health: tc,
		Keys: ghl.WebhookKeys{Ed25519: []ed25519.PublicKey{pub}}, PollInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	internal := httptest.NewServer(b.InternalHandler())
	defer internal.Close()
	t.Cleanup(srv.Close)
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() { relayDone <- b.RunRelay(relayCtx) }()
	t.Cleanup(func() {
		stopRelay()
		if err := <-relayDone; err != nil {
			t.Errorf("RunRelay: %v", err)
		}
	})

	post := func(body []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/webhooks/ghl", bytes.NewReader(body))
		req.Header.Set(ghl.SignatureHeader, sign(key, body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("webhook answered %d", resp.StatusCode)
		}
	}
	created := event("ContactCreate", map[string]any{"id": "c-1"})
	note := event("NoteCreate", map[string]any{"id": "n-1", "contactId": "c-1"})
	post(created)
	post(created) // HighLevel's at-least-once delivery
	post(note)

	var link store.Link
	deadline := time.Now().Add(30 * time.Second)
	for {
		if link, err = st.LinkBy(ctx, connID, store.SideGHL, "c-1"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no link for c-1: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wfID := domain.ContactWorkflowID(connID, link.ID)
	if wfID != "contact/"+connID+"/"+link.ID {
		t.Fatalf("workflow id %q", wfID)
	}
	var got recorded
	for {
		if v, err := tc.QueryWorkflow(ctx, wfID, "", queryEvents); err == nil {
			if err := v.Get(&got); err != nil {
				t.Fatal(err)
			}
			if len(got.Events) >= 2 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ContactSync %s received %d events, want 2", wfID, len(got.Events))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got.Input.Ref != (domain.Ref{ConnectionID: connID, LinkID: link.ID}) {
		t.Errorf("started with %+v, want the person's ref", got.Input.Ref)
	}
	byID := map[string]domain.Event{}
	for _, ev := range got.Events {
		byID[ev.ID] = ev
	}
	if ev := byID[webhookID(created)]; ev.Kind != domain.KindContact || ev.Source != domain.SourceGHL {
		t.Errorf("ContactCreate arrived as %+v", ev)
	}
	if ev := byID[webhookID(note)]; ev.Kind != domain.KindNotes || ev.ObjectID != "n-1" {
		t.Errorf("NoteCreate arrived as %+v", ev)
	}

	desc, err := tc.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetType().GetName() != domain.ContactSyncName || info.GetTaskQueue() != taskQueue {
		t.Errorf("workflow type %q on %q, want %s on %s", info.GetType().GetName(), info.GetTaskQueue(), domain.ContactSyncName, taskQueue)
	}
	var conn string
	if p := info.GetSearchAttributes().GetIndexedFields()[domain.SAConnection.GetName()]; p == nil {
		t.Errorf("search attribute %s not set", domain.SAConnection.GetName())
	} else if err := converter.GetDefaultDataConverter().FromPayload(p, &conn); err != nil || conn != connID {
		t.Errorf("search attribute %s = %q (%v), want %s", domain.SAConnection.GetName(), conn, err, connID)
	}

	// The duplicate delivery was acknowledged but signalled only once.
	signals := 0
	hist := tc.GetWorkflowHistory(ctx, wfID, "", false, 0)
	for hist.HasNext() {
		e, err := hist.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.GetWorkflowExecutionSignaledEventAttributes() != nil {
			signals++
		}
	}
	if signals != 2 {
		t.Errorf("%d signals in history, want 2", signals)
	}
	// The relay marks a row signalled after its signal returns, so the history can show
	// both signals a moment before the inbox does.
	var counts map[store.InboxState]int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		counts, err = st.InboxCounts(ctx)
		if err == nil && counts[store.InboxSignalled] == 2 && counts[store.InboxPending] == 0 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || counts[store.InboxSignalled] != 2 || counts[store.InboxPending] != 0 {
		t.Errorf("inbox %v (%v), want 2 signalled", counts, err)
	}
	resp, err := http.Get(internal.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz with Temporal and PostgreSQL up: %d", resp.StatusCode)
	}
}
