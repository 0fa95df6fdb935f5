package gateway

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

// gatewayProc is a gateway that can be stopped and started again on the
// same address, over a connection of its own: nothing of it survives a
// restart but what the server holds.
type gatewayProc struct {
	t         *testing.T
	s         *server.Server
	addr      string
	stopServe func()
	w         *writer.Writer
	b         *broker.Broker
}

func (g *gatewayProc) start() {
	g.t.Helper()
	b, err := broker.Connect(context.Background(), broker.Config{URL: g.s.URL()})
	if err != nil {
		g.t.Fatal(err)
	}
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		g.t.Fatal(err)
	}
	addr := g.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		g.t.Fatal(err)
	}
	g.addr = l.Addr().String()
	g.b, g.w = b, w
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, l, New(w, b, Config{Token: dashboardToken}), Limits{ShutdownTimeout: time.Millisecond})
	}()
	g.stopServe = func() { cancel(); <-served }
}

func (g *gatewayProc) stop() {
	g.stopServe()
	_ = g.w.Close()
	_ = g.b.Close()
}

// TestDashboardOperations: tasks of mixed outcomes submitted before the
// page opens are browsed by status, also after a gateway restart; a search;
// a bulk retry with its confirmation; a queue without a worker; a chart
// with data; and the page at 375 px without sideways overflow.
func TestDashboardOperations(t *testing.T) {
	t.Parallel()
	s, b := brokertest.New(t)
	reg := registry.New()
	if err := demo.Register(reg); err != nil {
		t.Fatal(err)
	}
	r, err := reader.New(b, reg, reader.Config{Concurrency: 4, ShutdownTimeout: 100 * time.Millisecond, HeartbeatEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	g := &gatewayProc{t: t, s: s}
	g.start()
	t.Cleanup(func() { g.stop() })
	url := "http://" + g.addr

	sctx, scancel := context.WithTimeout(context.Background(), timeout)
	defer scancel()
	var hs []strand.Handle
	for i := range 8 {
		h, err := w.Submit(sctx, "add", []any{i, i})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	for _, msg := range []string{"disk full", "no route to host", "disk quota"} {
		h, err := w.Submit(sctx, "fail", []any{msg}, strand.Meta(map[string]string{"tenant": "acme"}))
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	for _, h := range hs {
		_, _ = h.Wait(sctx)
	}
	for range 2 {
		if _, err := w.Submit(sctx, "add", []any{1, 1}, strand.Queue("idle")); err != nil {
			t.Fatal(err)
		}
	}

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
	rows := func(n int, sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](`document.querySelectorAll('`+sel+`').length === `+itoa(n),
			chromedp.WithPollingInterval(50*time.Millisecond))
	}

	run("the failed tasks, listed after the page opens",
		chromedp.Navigate(url+"/?token="+dashboardToken+"#browse?status=failed"),
		chromedp.WaitVisible(css(`#conn[data-state="live"]`)),
		rows(3, `#browse tr[data-status="failed"]`),
	)
	run("a queue with tasks and no worker is listed, with a warning",
		chromedp.WaitVisible(css(`#queues tr.no-worker[data-queue="idle"]`)),
	)
	g.stop()
	g.start()
	run("the same after a gateway restart and a reload",
		chromedp.Reload(),
		rows(3, `#browse tr[data-status="failed"]`),
		chromedp.Navigate(url+"/#browse?status=completed"),
		rows(8, `#browse tr[data-status="completed"]`),
		chromedp.Navigate(url+"/#browse?status=pending&queue=idle"),
		rows(2, `#browse tr[data-status="pending"]`),
	)
	run("a search by error text, from the form",
		chromedp.Navigate(url+"/#browse"),
		chromedp.SetValue(css(`#b-error`), "DISK"),
		chromedp.SetValue(css(`#b-meta`), "tenant=acme"),
		chromedp.Click(css(`#b-search`)),
		rows(2, `#browse tr[data-task-id]`),
	)
	run("a bulk retry of the failed tasks, confirmed",
		chromedp.Navigate(url+"/#browse?status=failed"),
		rows(3, `#browse tr[data-status="failed"]`),
		chromedp.Click(css(`#b-all`)),
		chromedp.Click(css(`.bulk .act[data-action="retry"][data-scope="selected"]`)),
		chromedp.WaitVisible(css(`#confirm`)),
		chromedp.Click(css(`#confirm-yes`)),
		chromedp.WaitVisible(css(`#b-msg[data-done="3"]`)),
		rows(6, `#browse tr[data-status="failed"]`), // the three retried fail again
	)
	if png := os.Getenv("STRAND_DASHBOARD_IMG"); png != "" {
		shot(t, ctx, filepath.Join(png, "browse.png"))
	}
	run("the charts have data",
		chromedp.Navigate(url+"/#charts"),
		chromedp.WaitVisible(css(`#charts .charts-queue[data-queue="default"] rect.bar`)),
	)
	if png := os.Getenv("STRAND_DASHBOARD_IMG"); png != "" {
		shot(t, ctx, filepath.Join(png, "charts.png"))
	}
	run("at 375 px wide, nothing overflows sideways",
		chromedp.EmulateViewport(375, 800),
		chromedp.Navigate(url+"/#browse?status=failed"),
		rows(6, `#browse tr[data-status="failed"]`),
		chromedp.Poll[chromedp.Void](`document.documentElement.scrollWidth <= window.innerWidth`,
			chromedp.WithPollingInterval(50*time.Millisecond)),
		chromedp.Navigate(url+"/#charts"),
		chromedp.WaitVisible(css(`#charts rect.bar`)),
		chromedp.Poll[chromedp.Void](`document.documentElement.scrollWidth <= window.innerWidth`,
			chromedp.WithPollingInterval(50*time.Millisecond)),
	)
	if png := os.Getenv("STRAND_DASHBOARD_IMG"); png != "" {
		run("narrow page", chromedp.Navigate(url+"/#browse?status=failed"), rows(6, `#browse tr[data-status="failed"]`))
		shot(t, ctx, filepath.Join(png, "narrow.png"))
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// shot saves the visible page as a PNG (STRAND_DASHBOARD_IMG=$PWD/docs/img).
func shot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.scrollTo(0, 0), true`)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
