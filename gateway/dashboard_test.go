package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// chromium is Debian's browser, which the dashboard test drives headless.
const chromium = "/usr/bin/chromium"

// browserTimeout bounds the whole browser test: generous, never a measurement.
const browserTimeout = 90 * time.Second

// dashboardToken is the gateway's bearer token in the browser test: the page
// is public, and it sends the token it was given on its API calls.
const dashboardToken = "s3cret"

// dashboardEnv is a gateway on a server of its own with a worker running
// the demo functions, and a writer for submitting from Go.
func dashboardEnv(t *testing.T) (url string, w *writer.Writer) {
	t.Helper()
	_, b := brokertest.New(t)
	reg := registry.New()
	if err := demo.Register(reg); err != nil {
		t.Fatal(err)
	}
	r, err := reader.New(b, reg, reader.Config{
		Concurrency: 4, ShutdownTimeout: 100 * time.Millisecond,
		RetryBase: 10 * time.Millisecond, HeartbeatEvery: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	w, err = writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	srv := httptest.NewServer(New(w, b, Config{Token: dashboardToken}))
	t.Cleanup(srv.Close)
	return srv.URL, w
}

// getOver reads the gateway's JSON answer at url+path into v.
func getOver(ctx context.Context, url, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+dashboardToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// pausedOver asks the gateway at url whether queue default is paused.
func pausedOver(ctx context.Context, url string) (bool, error) {
	var body pauseBody
	err := getOver(ctx, url, "/v1/queues/default/pause", &body)
	return body.Paused, err
}

// deadOver lists the ids of the dead letters over HTTP.
func deadOver(ctx context.Context, url string) ([]string, error) {
	var body struct {
		Tasks []struct {
			ID string `json:"id"`
		} `json:"tasks"`
	}
	if err := getOver(ctx, url, "/v1/dlq", &body); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(body.Tasks))
	for _, t := range body.Tasks {
		ids = append(ids, t.ID)
	}
	return ids, nil
}

// browser starts a headless Chromium on a fresh profile. Without Chromium
// the test is skipped, unless it runs in CI (env CI set), where it fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s: %v (apt-get install chromium; in CI this test fails instead)", chromium, err)
		}
		t.Fatalf("%s: %v (CI installs chromium: see .ci/run)", chromium, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", chromium, err)
	}
	return bctx
}

// css is a CSS selector for chromedp.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// row selects a task's row in the live list once it has status.
func row(id, status string) string {
	return `#tasks tr[data-task-id="` + id + `"][data-status="` + status + `"]`
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	url, w := dashboardEnv(t)
	ctx := browser(t)
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		t.Logf("%s", what)
		actx, cancel := context.WithTimeout(ctx, 2*timeout)
		defer cancel()
		if err := chromedp.Do(actx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash + document.querySelector('main').outerHTML`))
			t.Logf("the page at %s", html)
			t.Fatalf("%s: %v", what, err)
		}
	}
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}

	// The page loads and its two live streams connect.
	run("open the dashboard",
		chromedp.Navigate(url+"/?token="+dashboardToken),
		chromedp.WaitVisible(css(`#conn[data-state="live"]`)),
		chromedp.WaitVisible(css(`#workers tr[data-worker]`)),
	)

	// A task submitted from the page's form.
	run("submit from the page",
		chromedp.SetValue(css(`#f-func`), "add"),
		chromedp.SetValue(css(`#f-args`), "[2, 3]"),
		chromedp.Click(css(`#f-submit`)),
		chromedp.WaitVisible(css(`#submit-msg a[data-task-id]`)),
	)
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(css(`#submit-msg a[data-task-id]`), "data-task-id"))
	if err != nil {
		t.Fatal(err)
	}
	pageID := attr.Value
	if pageID == "" {
		t.Fatal("the page shows no id for the task it submitted")
	}

	// A task submitted from Go appears by the live events alone.
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	h, err := w.Submit(sctx, "add", []any{40, 2})
	if err != nil {
		t.Fatal(err)
	}
	run("both tasks reach completed without a reload",
		chromedp.WaitVisible(css(row(pageID, "completed"))),
		chromedp.WaitVisible(css(row(h.ID(), "completed"))),
	)
	fn := get("the Go task's function", chromedp.Text(css(`#tasks tr[data-task-id="`+h.ID()+`"] td:nth-child(3)`)))
	if fn != "add" {
		t.Errorf("the Go task's row names func %q, want add", fn)
	}

	// The detail of the page's task: its args and its result.
	run("open the page task's detail",
		chromedp.Click(css(`#tasks tr[data-task-id="`+pageID+`"]`)),
		chromedp.WaitVisible(css(`#detail[data-status="completed"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('#d-result').textContent.trim() === '5'`,
			chromedp.WithPollingInterval(50*time.Millisecond)),
	)
	args := get("the detail's fields", chromedp.Text(css(`#d-fields`)))
	if !strings.Contains(args, "[2,3]") {
		t.Errorf("the detail shows %q, want the args [2,3]", args)
	}

	// A streamed task's items arrive in its detail.
	ch, err := w.Submit(sctx, "count", []any{5})
	if err != nil {
		t.Fatal(err)
	}
	run("the streamed items appear in the detail",
		chromedp.Navigate(url+"/#task/"+ch.ID()),
		chromedp.WaitVisible(css(`#d-items li[data-item="4"]`)),
		chromedp.WaitVisible(css(`#detail[data-status="completed"]`)),
	)
	items := get("the items", chromedp.Text(css(`#d-items`)))
	if got := strings.Fields(items); strings.Join(got, " ") != "0 1 2 3 4" {
		t.Errorf("items %q, want 0 1 2 3 4", items)
	}

	// A task that dies is in the dead letters, with a Replay button.
	dh, err := w.Submit(sctx, "fail", []any{"boom"}, strand.MaxAttempts(2))
	if err != nil {
		t.Fatal(err)
	}
	run("a dead task shows in the dead letters",
		chromedp.WaitVisible(css(row(dh.ID(), "dead"))),
		chromedp.Navigate(url+"/#dlq"),
		chromedp.WaitVisible(css(`#dlq tr[data-dead-id="`+dh.ID()+`"] button.replay`)),
		chromedp.Click(css(`#dlq tr[data-dead-id="`+dh.ID()+`"] button.replay`)),
		// Replayed: its button says so, or its row is gone with the dead
		// letter. A click that missed — the charts above drawn between
		// the button's box being read and the mouse event, moving it —
		// is made again on the button itself.
		chromedp.Poll[chromedp.Void](`(() => {
			const b = document.querySelector('#dlq tr[data-dead-id="`+dh.ID()+`"] button.replay');
			if (b === null || b.textContent === 'replayed') return true;
			if (!b.disabled) b.click();
			return false;
		})()`, chromedp.WithPollingInterval(200*time.Millisecond)),
	)
	if dead, err := deadOver(sctx, url); err != nil || slices.Contains(dead, dh.ID()) {
		t.Fatalf("after the page's replay, the dead letters hold %v (%v); want %s gone", dead, err, dh.ID())
	}

	// The queue's Pause button pauses it across the fleet, Resume resumes it.
	run("pause the queue from the page",
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(css(`#queues tr[data-queue="default"][data-paused="no"] button.pause`)),
		chromedp.Click(css(`#queues tr[data-queue="default"] button.pause`)),
		chromedp.WaitVisible(css(`#queues tr[data-queue="default"][data-paused="yes"]`)),
	)
	if paused, err := pausedOver(sctx, url); err != nil || !paused {
		t.Fatalf("the page's pause: paused %v, %v", paused, err)
	}
	run("resume it",
		chromedp.Click(css(`#queues tr[data-queue="default"][data-paused="yes"] button.pause`)),
		chromedp.WaitVisible(css(`#queues tr[data-queue="default"][data-paused="no"]`)),
	)

	if path := os.Getenv("STRAND_DASHBOARD_PNG"); path != "" {
		screenshot(t, ctx, url, w, path)
	}
}

// screenshot saves a picture of the dashboard with some tasks in it, for the
// README (a PNG): STRAND_DASHBOARD_PNG=$PWD/docs/dashboard.png go test -run TestDashboard ./gateway
func screenshot(t *testing.T, ctx context.Context, url string, w *writer.Writer, path string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for i := range 6 {
		if _, err := w.Submit(sctx, "add", []any{i, i * i}); err != nil {
			t.Fatal(err)
		}
	}
	work, err := w.Submit(sctx, "work", []any{100, 100})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := w.Submit(sctx, "sleep", []any{60000}); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(url+"/#task/"+work.ID()),
		chromedp.WaitVisible(css(`#d-progress .bar`)),
		chromedp.Sleep(1500*time.Millisecond), // let the rates and the progress bar fill in
	); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The schedules view lists a schedule with its next run and links its
// firings' tasks; a link opens the task.
func TestDashboardSchedules(t *testing.T) {
	t.Parallel()
	url, w := dashboardEnv(t)
	ctx := browser(t)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := w.PutSchedule(sctx, "tick", "@every 1s", "add", []any{1, 1}); err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithTimeout(ctx, 2*timeout)
	defer acancel()
	err := chromedp.Do(actx,
		chromedp.Navigate(url+"/?token="+dashboardToken+"#schedules"),
		chromedp.WaitVisible(css(`#schedules tr[data-schedule="tick"] td.next-run`)),
		chromedp.WaitVisible(css(`#schedules tr[data-schedule="tick"] a.firing`)),
		chromedp.Click(css(`#schedules tr[data-schedule="tick"] a.firing`)),
		chromedp.WaitVisible(css(`#detail #d-status[data-status="completed"]`)),
	)
	if err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash + document.querySelector('main').outerHTML`))
		t.Logf("the page at %s", html)
		t.Fatal(err)
	}
	next, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#schedules tr[data-schedule="tick"] td.next-run').textContent`))
	if err != nil || next == "" || next == "paused" {
		t.Fatalf("next run %q %v", next, err)
	}
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#d-id').textContent`))
	if err != nil || !strings.HasPrefix(id, "tick-") {
		t.Fatalf("detail of %q %v", id, err)
	}
}
