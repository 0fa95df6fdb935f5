package runner

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/strand-run/strand/internal/taskctx"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/registry"
)

// Environment of a child process: EnvChild marks it, the others carry
// what strand.TaskFrom reports in the child.
const (
	EnvChild        = "STRAND_CHILD"
	envChildAttempt = "STRAND_CHILD_ATTEMPT"
	envChildWorker  = "STRAND_CHILD_WORKER"
	envChildQueue   = "STRAND_CHILD_QUEUE"
)

// childOutcomeFD is the child's file descriptor for its outcome: not
// stdout, which the task's own prints may use.
const childOutcomeFD = 3

// outputPart is how much of the start and of the end of a child's output
// a crash report quotes.
const outputPart = 1024

// ProcessConfig configures Process. The zero value re-executes this binary
// and runs as many children at once as there are CPUs.
type ProcessConfig struct {
	// Path is the binary to run as a child (default os.Executable()). It
	// must call ServeChild first thing in main, with the functions to run.
	Path string
	// Concurrency bounds the children running at once (default GOMAXPROCS).
	Concurrency int
	// Env is added to the child's environment (after the parent's).
	Env []string
}

// ProcessRunner runs each call in a child process of the same binary (the
// original's "process" target): a crash, an os.Exit or an OOM of the call
// fails the call, not the caller.
type ProcessRunner struct {
	cfg  ProcessConfig
	sem  chan struct{}
	ctx  context.Context
	stop context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Process returns a runner that runs calls in child processes. The
// functions are those the child binary registers in its ServeChild call.
func Process(cfg ProcessConfig) *ProcessRunner {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = runtime.GOMAXPROCS(0)
	}
	ctx, stop := context.WithCancel(context.Background())
	return &ProcessRunner{cfg: cfg, sem: make(chan struct{}, cfg.Concurrency), ctx: ctx, stop: stop}
}

// Submit starts a call of fn with args in a child process and returns its
// handle at once. Timeout kills the child at the deadline (after a second
// of grace for the function to return its timeout error itself); Cancel
// kills it at once.
func (p *ProcessRunner) Submit(_ context.Context, fn string, args ...any) (strand.Handle, error) {
	c, err := newCall(fn, args)
	if err != nil {
		return nil, err
	}
	h := newHandle(c)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		defer h.end()
		select {
		case p.sem <- struct{}{}:
			defer func() { <-p.sem }()
		case <-h.done:
			return
		}
		ctx, cancel := context.WithCancelCause(p.ctx)
		defer cancel(nil)
		if !h.start(cancel) {
			return
		}
		if c.timeout > 0 {
			var stop context.CancelFunc
			ctx, stop = context.WithTimeoutCause(ctx, c.timeout+time.Second, strand.ErrTimeout)
			defer stop()
		}
		env := &codec.Envelope{V: codec.Version, ID: c.id, Func: fn, Args: c.args, Kwargs: c.kwargs,
			TimeoutMS: c.timeout.Milliseconds()}
		ctx = taskctx.WithProgress(ctx, h.report)
		res, err := RunChild(ctx, p.cfg.Path, strand.Task{ID: c.id, Func: fn, Attempt: 1, Worker: "process"},
			env, c.format, h.emit, p.cfg.Env...)
		if err != nil {
			err = classify(ctx, c, err)
		}
		h.finish(res, err)
	}()
	return h, nil
}

// Close refuses new calls and waits for the running ones to end.
func (p *ProcessRunner) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
	p.stop()
	return nil
}

// RunChild runs the task env (in format f) in a child process of the
// binary at path (default: this one) and returns its encoded result; the
// items of an iterator function go to emit as the child produces them. It
// is the process runner's core, which readers use for their process
// queues. The task's outcome as the child recorded it comes back as a
// *strand.TaskError; a child that died without one gives kind crashed,
// with its exit status and its output (start and end); when ctx ends the
// child is killed and the error wraps ctx.Err().
func RunChild(ctx context.Context, path string, task strand.Task, env *codec.Envelope, f codec.Format,
	emit func(codec.Raw) error, extraEnv ...string) (codec.Raw, error) {
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("%s: find this binary: %w", env.Func, err)
		}
		path = exe
	}
	req, err := codec.EncodeEnvelope(f, env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env.Func, err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env.Func, err)
	}
	defer pr.Close()
	tail := &outputWriter{max: outputPart}
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = append(os.Environ(), EnvChild+"=1",
		envChildAttempt+"="+strconv.Itoa(task.Attempt), envChildWorker+"="+task.Worker, envChildQueue+"="+task.Queue)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdin = strings.NewReader(string(req))
	cmd.Stdout, cmd.Stderr = tail, tail
	cmd.ExtraFiles = []*os.File{pw} // fd 3
	cmd.WaitDelay = time.Second     // a grandchild holding the pipes does not hold us
	if err := cmd.Start(); err != nil {
		pw.Close()
		return nil, fmt.Errorf("%s: start child %s: %w", env.Func, path, err)
	}
	pw.Close()
	// Frames come as the child writes them: items, then the outcome. An
	// item emit refuses ends the child.
	ctx, kill := context.WithCancelCause(ctx)
	defer kill(nil)
	stopKill := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stopKill()
	var outcome *codec.Outcome
	var emitErr error
	read := make(chan struct{})
	go func() {
		defer close(read)
		for {
			var fr childFrame
			if err := readFrame(pr, f, &fr); err != nil {
				return
			}
			switch {
			case fr.Outcome != nil:
				outcome = fr.Outcome
				return
			case fr.Progress != nil:
				// The reader's or the runner's reporter, in ctx.
				strand.Progress(ctx, fr.Progress.Done, fr.Progress.Total, fr.Progress.Note)
			case emit != nil && emitErr == nil:
				if emitErr = emit(fr.Item); emitErr != nil {
					kill(emitErr)
				}
			}
		}
	}()
	werr := cmd.Wait()
	// The child has exited; what it wrote is in the pipe, unless a
	// grandchild keeps the pipe open, which the deadline cuts short.
	_ = pr.SetReadDeadline(time.Now().Add(time.Second))
	<-read
	if emitErr != nil {
		return nil, emitErr
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: child killed: %w", env.Func, ctx.Err())
	}
	if o := outcome; o != nil {
		if o.Error != nil {
			return nil, o.Error.Err()
		}
		if o.Result.IsNil() {
			return nil, nil
		}
		return o.Result, nil
	}
	how := "exited without an outcome"
	var ee *exec.ExitError
	switch {
	case errors.As(werr, &ee):
		how = ee.ProcessState.String() // "exit status 3", "signal: killed"
	case werr != nil:
		how = werr.Error()
	}
	msg := fmt.Sprintf("%s: child process %d died: %s", env.Func, cmd.Process.Pid, how)
	if s := strings.TrimSpace(tail.String()); s != "" {
		msg += "; its output: " + s
	}
	return nil, &strand.TaskError{Kind: strand.ErrCrashed, Message: msg}
}

// ServeChild makes this process a task child when the environment says it
// is one (STRAND_CHILD=1): it reads one task envelope from stdin, runs it
// through reg, writes the outcome record to file descriptor 3 and exits.
// Elsewhere it returns false at once. Binaries that run process tasks call
// it first thing in main (tests in TestMain), before flags are parsed.
func ServeChild(reg *registry.Registry) bool {
	if os.Getenv(EnvChild) != "1" {
		return false
	}
	os.Exit(serveChild(reg))
	return true
}

func serveChild(reg *registry.Registry) int {
	task := strand.Task{Attempt: 1, Worker: os.Getenv(envChildWorker), Queue: os.Getenv(envChildQueue)}
	if n, err := strconv.Atoi(os.Getenv(envChildAttempt)); err == nil {
		task.Attempt = n
	}
	for _, k := range []string{EnvChild, envChildAttempt, envChildWorker, envChildQueue} {
		os.Unsetenv(k) // the task's own children are not task children
	}
	out := os.NewFile(childOutcomeFD, "strand-outcome")
	if out == nil {
		fmt.Fprintln(os.Stderr, "strand child: no outcome pipe on fd 3")
		return 2
	}
	b, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "strand child: read task:", err)
		return 2
	}
	f := codec.Sniff(b)
	env, err := codec.DecodeEnvelope(f, b)
	if err != nil {
		fmt.Fprintln(os.Stderr, "strand child:", err)
		return 2
	}
	task.ID, task.Func, task.Meta = env.ID, env.Func, env.Meta
	c := &call{id: env.ID, fn: env.Func, format: f, args: env.Args, kwargs: env.Kwargs,
		timeout: time.Duration(env.TimeoutMS) * time.Millisecond}
	var wmu sync.Mutex // items and progress may come from different goroutines
	emit := func(raw codec.Raw) error {
		wmu.Lock()
		defer wmu.Unlock()
		return writeFrame(out, f, &childFrame{Item: raw})
	}
	ctx := taskctx.WithProgress(context.Background(), func(done, total int64, note string) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = writeFrame(out, f, &childFrame{Progress: &codec.Progress{Done: done, Total: total, Note: note}})
	})
	res, err := execute(ctx, reg, c, task, emit)
	o := &codec.Outcome{Status: strand.StatusCompleted, Func: env.Func, Result: res, Attempt: task.Attempt,
		Finished: time.Now().UnixMilli()}
	if err != nil {
		o.Status, o.Result, o.Error = strand.StatusFailed, nil, codec.ErrorInfoOf(err)
		var pe *registry.PanicError
		if errors.As(err, &pe) {
			fmt.Fprintf(os.Stderr, "%s: panic: %v\n%s", env.Func, pe.Value, pe.Stack)
		}
	}
	if err := writeFrame(out, f, &childFrame{Outcome: o}); err != nil {
		fmt.Fprintln(os.Stderr, "strand child: write outcome:", err)
		return 2
	}
	return 0
}

// childFrame is one record from a child on fd 3: an item of an iterator
// function, or the outcome, which is the last frame.
type childFrame struct {
	Item     codec.Raw       `msgpack:"item,omitempty" json:"item,omitempty"`
	Progress *codec.Progress `msgpack:"progress,omitempty" json:"progress,omitempty"`
	Outcome  *codec.Outcome  `msgpack:"outcome,omitempty" json:"outcome,omitempty"`
}

// maxFrame bounds a frame from a child: no record is larger than a NATS
// message may be, and this is well above the server's default.
const maxFrame = 64 << 20

// writeFrame writes fr in format f behind its length (4 bytes, big-endian).
func writeFrame(w io.Writer, f codec.Format, fr *childFrame) error {
	data, err := f.Marshal(fr)
	if err != nil {
		return err
	}
	buf := make([]byte, 4, 4+len(data))
	binary.BigEndian.PutUint32(buf, uint32(len(data)))
	_, err = w.Write(append(buf, data...))
	return err
}

// readFrame reads one frame written by writeFrame.
func readFrame(r io.Reader, f codec.Format, fr *childFrame) error {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxFrame {
		return fmt.Errorf("frame of %d bytes", size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return err
	}
	return f.Unmarshal(data, fr)
}

// outputWriter keeps the first and the last bytes written to it: a Go
// panic says what it is at the start, an exit message is at the end.
type outputWriter struct {
	mu        sync.Mutex
	max       int // of each part
	head, b   []byte
	truncated bool
}

func (w *outputWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if room := w.max - len(w.head); room > 0 {
		k := min(room, len(p))
		w.head, p = append(w.head, p[:k]...), p[k:]
	}
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.b, w.truncated = append(w.b[:0], w.b[len(w.b)-w.max:]...), true
	}
	return n, nil
}

func (w *outputWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	sep := ""
	if w.truncated {
		sep = " … "
	}
	return strings.ToValidUTF8(string(w.head)+sep+string(w.b), "")
}
