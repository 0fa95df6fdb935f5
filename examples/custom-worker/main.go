// Command custom-worker is a strand worker for your own functions: it
// registers them by name and runs them for every task submitted to its queue,
// from Go (writer.Submit), the strand CLI, or any language that speaks
// docs/protocol.md.
//
// It reads the connection (STRAND_SERVER, STRAND_CREDS, …) and the worker
// settings (STRAND_QUEUES, STRAND_CONCURRENCY, …) from the environment, and
// consumes the queue "images" unless STRAND_QUEUES says otherwise. Ctrl-C
// stops it gracefully: running tasks finish, buffered ones go back.
//
//	go run ./cmd/strand dev                   # in one terminal
//	go run ./examples/custom-worker           # in another
//	go run ./cmd/strand submit --wait --queue images word_count '"to be or not to be"'
package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/rs/zerolog"
	"golang.org/x/term"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
)

// Queue is the queue this worker consumes unless STRAND_QUEUES names others.
// It is not "default", so that it can run beside `strand dev`, whose worker
// consumes "default" and knows only the demo functions.
const Queue = "images"

// ResizeOpts are resize's keyword arguments. The worker decodes kwargs by
// the msgpack tags (json tags where a field has none), for msgpack and JSON
// tasks alike; kwargs that match no field are refused, so a typo fails the
// task instead of being ignored. The json tags are for Go producers that
// send a ResizeOpts in a JSON task (encoding/json reads only those).
type ResizeOpts struct {
	Width  int    `msgpack:"width" json:"width"`
	Height int    `msgpack:"height" json:"height"`
	Format string `msgpack:"format" json:"format,omitempty"` // default "jpeg"
}

// resize pretends to make a thumbnail of the image at src and returns where
// it went. The output name depends only on the inputs, so a task that runs
// twice (delivery is at-least-once) writes the same thumbnail twice, harmlessly.
func resize(ctx context.Context, src string, opts ResizeOpts) (string, error) {
	u, err := url.Parse(src)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("not an absolute URL: %q", src)
	}
	if opts.Width <= 0 || opts.Height <= 0 {
		return "", fmt.Errorf("width and height must be positive, got %dx%d", opts.Width, opts.Height)
	}
	if opts.Format == "" {
		opts.Format = "jpeg"
	}
	select { // the work; a cancel or the task's timeout ends it early
	case <-time.After(5 * time.Millisecond):
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
	name := strings.TrimSuffix(u.Path, "/")
	name = name[strings.LastIndexByte(name, '/')+1:]
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	return fmt.Sprintf("thumbs/%s-%dx%d.%s", name, opts.Width, opts.Height, opts.Format), nil
}

// wordCount counts the words of text, case-folded, punctuation trimmed.
// It needs no ctx and cannot fail, so its signature says neither.
func wordCount(text string) map[string]int {
	counts := make(map[string]int)
	for _, w := range strings.Fields(text) {
		w = strings.ToLower(strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }))
		if w != "" {
			counts[w]++
		}
	}
	return counts
}

// Registry returns this worker's functions under their wire names.
func Registry() *registry.Registry {
	reg := registry.New()
	reg.MustRegister("resize", resize)
	reg.MustRegister("word_count", wordCount)
	return reg
}

// run works on cfg's server until ctx ends, then shuts down gracefully.
func run(ctx context.Context, cfg broker.Config, rcfg reader.Config) error {
	b, err := broker.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	r, err := reader.New(b, Registry(), rcfg)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

func main() {
	// Colours only on a terminal: a log file or a journal gets plain text.
	noColor := !term.IsTerminal(int(os.Stderr.Fd()))
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly, NoColor: noColor}).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	cfg, err := broker.FromEnv()
	if err != nil {
		log.Fatal().Err(err).Msg("config")
	}
	rcfg, err := reader.FromEnv()
	if err != nil {
		log.Fatal().Err(err).Msg("config")
	}
	if len(rcfg.Queues) == 0 {
		rcfg.Queues = []string{Queue}
	}
	rcfg.Logger = &log

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, rcfg); err != nil && !errors.Is(err, context.Canceled) {
		log.Error().Err(err).Msg("worker")
		os.Exit(1)
	}
}
