package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardFlowGraph: a workflow's page draws its graph — a node per
// step, an edge per dependency — and each node follows its step's status
// live: the diamond's steps end completed, with their results, without a
// reload; the slow step of a second workflow shows running, then cancelled
// once the page's Cancel button is pressed.
func TestDashboardFlowGraph(t *testing.T) {
	t.Parallel()
	url, _ := dashboardEnv(t)
	ctx := browser(t)
	post := func(doc string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", url+"/v1/flows", strings.NewReader(doc))
		req.Header.Set("Authorization", "Bearer "+dashboardToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ref struct{ ID string }
		if err := json.NewDecoder(resp.Body).Decode(&ref); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /v1/flows: %d %v", resp.StatusCode, err)
		}
		return ref.ID
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		actx, cancel := context.WithTimeout(ctx, 2*timeout)
		defer cancel()
		if err := chromedp.Do(actx, actions...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#flow').outerHTML`))
			t.Fatalf("%s: %v\n%s", what, err, html)
		}
	}
	node := func(step, status string) string {
		return `#w-graph g.node[data-step="` + step + `"][data-status="` + status + `"]`
	}

	slow := post(`{"steps": {"wait": {"func": "sleep", "args": [1500]},
		"a": {"func": "add", "args": [1, 1], "after": ["wait"], "results": "none"},
		"b": {"func": "add", "args": [10], "after": ["a"]}, "c": {"func": "add", "args": [20], "after": ["a"]},
		"d": {"func": "add", "after": ["b", "c"]}}}`)
	do("open the workflow's page while its first step runs",
		chromedp.Navigate(url+"/?token="+dashboardToken+"#flow/"+slow),
		chromedp.WaitVisible(css(`#flow`)),
		chromedp.WaitVisible(css(node("wait", "running"))),
		chromedp.WaitVisible(css(node("d", "waiting"))),
	)
	edges, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#w-graph path.edge').length`))
	if err != nil || edges != 5 {
		t.Fatalf("%d edges drawn (%v), want 5", edges, err)
	}
	do("every step completes, live",
		chromedp.WaitVisible(css(node("d", "completed"))),
		chromedp.WaitVisible(css(`#flow[data-status="completed"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('#w-graph g.node[data-step="d"] text.st').textContent.includes('34')`,
			chromedp.WithPollingInterval(50*time.Millisecond)),
	)

	long := post(`{"steps": {"s": {"func": "sleep", "args": [20000]}, "t": {"func": "add", "args": [1, 2], "after": ["s"], "results": "none"}}}`)
	do("cancel from the page",
		chromedp.Navigate(url+"/#flow/"+long),
		chromedp.WaitVisible(css(node("s", "running"))),
		chromedp.Click(css(`#w-cancel`)),
		chromedp.WaitVisible(css(`#flow[data-status="cancelled"]`)),
		chromedp.WaitVisible(css(node("s", "cancelled"))),
		chromedp.WaitVisible(css(node("t", "cancelled"))),
	)
}
