package setupapp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ScreenshotEnv names a file the browser test writes a screenshot of the page to (the
// README's picture is made this way).
const ScreenshotEnv = "HLRZ_SETUP_SCREENSHOT"

// The whole onboarding in a real browser (Debian's chromium, headless): the simulator's
// stand-in for HighLevel's frame embeds the page and answers REQUEST_USER_DATA; the business
// enters the Referrizer token, previews the first sync, starts it and watches it finish,
// and the counts the preview promised are the ones the backfill reports.
func TestBrowserOnboarding(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (apt-get install chromium; .ci/run does it): %v", err)
	}
	f := start(t, 24)
	f.e.GHL.SetCustomPageURL(f.base + "/app")

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1100, 2300))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	b := &browser{t: t, ctx: ctx}

	if _, err := chromedp.Run(ctx, chromedp.Navigate(f.e.GHLURL+"/custom-page?location="+f.loc)); err != nil {
		t.Fatalf("open the stand-in frame: %v", err)
	}
	// The boot page asked the frame, got a session and moved to the page itself.
	b.waitText("#state-words", "Referrizer is not connected")

	b.set("#rz-token", "not-the-token")
	b.call("#token-form", "function(){ this.requestSubmit(); }")
	b.waitText("#token-msg", "did not accept")
	b.set("#rz-token", f.rzToken)
	b.call("#token-form", "function(){ this.requestSubmit(); }")
	b.waitText("#token-msg", "accepted")
	b.waitText("#state-words", "preview the first sync")

	b.call("#preview-btn", "function(){ this.click(); }")
	b.waitText("#pv-totals", "people in HighLevel")
	preview := map[string]int{}
	for _, id := range []string{"pv-linked", "pv-create-rz", "pv-create-ghl", "pv-ambiguous"} {
		preview[id] = b.number("#" + id)
	}
	if preview["pv-linked"] != 6 || preview["pv-create-rz"] != 12 || preview["pv-create-ghl"] != 6 || preview["pv-ambiguous"] != 1 {
		t.Fatalf("preview shown: %v", preview)
	}
	b.waitText("#pv-ambiguous-list", "twin.person@example.com")
	if path := os.Getenv(ScreenshotEnv); path != "" {
		b.screenshot(path)
	}

	b.call("#start-btn", "function(){ this.click(); }")
	b.waitText("#pg-phase", "done")
	done := map[string]int{"linked": b.number("#pg-linked"), "created": b.number("#pg-created"), "ambiguous": b.number("#pg-ambiguous"), "failed": b.number("#pg-failed")}
	if done["linked"] != preview["pv-linked"] || done["created"] != preview["pv-create-rz"]+preview["pv-create-ghl"] || done["ambiguous"] != preview["pv-ambiguous"] || done["failed"] != 0 {
		t.Fatalf("backfill shown %v, preview promised %v", done, preview)
	}
	b.waitText("#state-words", "Connected and syncing")
	b.waitText("#problems-words", "1 people need attention")
	// The undecided person: pick the right HighLevel contact.
	b.call("#problems-list button.pick", "function(){ this.click(); }")
	b.waitText("#problems-words", "No problems.")
	t.Logf("preview %v = backfill %v", preview, done)
}

// browser queries and drives the page inside the frame's iframe (same site as the frame,
// so the same renderer: chromedp.FromNode reaches its document).
type browser struct {
	t   *testing.T
	ctx context.Context
}

// call runs fn with `this` bound to the element sel inside the iframe and returns its
// result as text, retrying while the iframe (re)loads.
func (b *browser) call(sel, fn string) string {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		out, err := b.try(sel, fn)
		if err == nil {
			return out
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	boot, _ := b.try("#boot-status", "function(){ return this.textContent; }")
	frame, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.getElementById('app').src"))
	b.t.Fatalf("%s: %v (iframe %s; boot page says %q)", sel, last, frame, boot)
	return ""
}

func (b *browser) try(sel, fn string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	frames, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("iframe#app")))
	if err != nil || len(frames) == 0 {
		return "", fmt.Errorf("no iframe: %v", err)
	}
	return chromedp.Run(ctx, chromedp.QueryAfter(chromedp.CSS(sel), func(ctx context.Context, t *chromedp.Target, nodes []*chromedp.Node) (string, error) {
		if len(nodes) == 0 {
			return "", fmt.Errorf("not found")
		}
		obj, err := cdp.Call(ctx, t, dom.ResolveNode, dom.ResolveNodeParams{NodeID: nodes[0].NodeID})
		if err != nil {
			return "", err
		}
		byValue := true
		res, err := cdp.Call(ctx, t, runtime.CallFunctionOn, runtime.CallFunctionOnParams{FunctionDeclaration: fn, ObjectID: obj.Object.ObjectID, ReturnByValue: &byValue})
		if err != nil {
			return "", err
		}
		if res.ExceptionDetails != nil {
			return "", fmt.Errorf("script: %s", res.ExceptionDetails.Text)
		}
		if res.Result == nil || len(res.Result.Value) == 0 {
			return "", nil
		}
		var v any
		if json.Unmarshal(res.Result.Value, &v) == nil {
			if s, ok := v.(string); ok {
				return s, nil
			}
		}
		return string(res.Result.Value), nil
	}, chromedp.FromNode(frames[0])))
}

func (b *browser) set(sel, value string) {
	b.t.Helper()
	b.call(sel, "function(){ this.value = "+strconv.Quote(value)+"; }")
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return b.call(sel, "function(){ return this.textContent; }")
}

// waitText waits until sel's text contains want.
func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		if last = b.text(sel); strings.Contains(last, want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.t.Fatalf("%s: text %q never contained %q", sel, last, want)
}

func (b *browser) number(sel string) int {
	b.t.Helper()
	s := strings.TrimSpace(b.text(sel))
	n, err := strconv.Atoi(s)
	if err != nil {
		b.t.Fatalf("%s: %q is not a number", sel, s)
	}
	return n
}

func (b *browser) screenshot(path string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
