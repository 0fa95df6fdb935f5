// Package child runs one task in a child process of a strand binary, for
// runner.Process and the process queues of a reader: Run starts the child
// and reads its frames (items, progress, the outcome) from file descriptor
// 3; Serve is the child's side.
package child

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strand-run/strand/internal/handler"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/taskctx"
)

// Environment of a child process: Env marks it, the others carry what
// strand.TaskFrom reports in the child.
const (
	Env        = "STRAND_CHILD"
	envAttempt = "STRAND_CHILD_ATTEMPT"
	envWorker  = "STRAND_CHILD_WORKER"
	envQueue   = "STRAND_CHILD_QUEUE"
)

// outcomeFD is the child's file descriptor for its outcome: not stdout,
// which the task's own prints may use.
const outcomeFD = 3

// outputPart is how much of the start and of the end of a child's output
// a crash report quotes.
const outputPart = 1024

// Run runs the task env (in format f) in a child process of the
// binary at path (default: this one) and returns its encoded result; the
// items of an iterator function go to emit as the child produces them. It
// is the process runner's core, which readers use for their process
// queues. The task's outcome as the child recorded it comes back as a
// *strand.TaskError; a child that died without one gives kind crashed,
// with its exit status and its output (start and end); when ctx ends the
// child is killed and the error wraps ctx.Err().
func Run(ctx context.Context, path string, task strand.Task, env *codec.Envelope, f codec.Format,
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
	cmd.Env = append(os.Environ(), Env+"=1",
		envAttempt+"="+strconv.Itoa(task.Attempt), envWorker+"="+task.Worker, envQueue+"="+task.Queue)
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
			var fr frame
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

// Exec runs the task env (in format f) in the child, as task, with the
// items of an iterator function going to emit; it returns the encoded
// result or the task's error.
type Exec func(ctx context.Context, env *codec.Envelope, f codec.Format, task strand.Task, emit func(codec.Raw) error) (codec.Raw, error)

// IsChild reports whether this process is a task child (STRAND_CHILD=1).
func IsChild() bool { return os.Getenv(Env) == "1" }

// Serve is the child's side: it reads one task envelope from stdin, runs
// it with exec, writes its frames to file descriptor 3 and returns the
// process's exit code.
func Serve(exec Exec) int {
	task := strand.Task{Attempt: 1, Worker: os.Getenv(envWorker), Queue: os.Getenv(envQueue)}
	if n, err := strconv.Atoi(os.Getenv(envAttempt)); err == nil {
		task.Attempt = n
	}
	for _, k := range []string{Env, envAttempt, envWorker, envQueue} {
		os.Unsetenv(k) // the task's own children are not task children
	}
	out := os.NewFile(outcomeFD, "strand-outcome")
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
	var wmu sync.Mutex // items and progress may come from different goroutines
	emit := func(raw codec.Raw) error {
		wmu.Lock()
		defer wmu.Unlock()
		return writeFrame(out, f, &frame{Item: raw})
	}
	ctx := taskctx.WithProgress(context.Background(), func(done, total int64, note string) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = writeFrame(out, f, &frame{Progress: &codec.Progress{Done: done, Total: total, Note: note}})
	})
	res, err := exec(ctx, env, f, task, emit)
	o := &codec.Outcome{Status: strand.StatusCompleted, Func: env.Func, Result: res, Attempt: task.Attempt,
		Finished: time.Now().UnixMilli()}
	if err != nil {
		o.Status, o.Result, o.Error = strand.StatusFailed, nil, codec.ErrorInfoOf(err)
		var pe *handler.PanicError
		if errors.As(err, &pe) {
			fmt.Fprintf(os.Stderr, "%s: panic: %v\n%s", env.Func, pe.Value, pe.Stack)
		}
	}
	wmu.Lock()
	defer wmu.Unlock()
	if err := writeFrame(out, f, &frame{Outcome: o}); err != nil {
		fmt.Fprintln(os.Stderr, "strand child: write outcome:", err)
		return 2
	}
	return 0
}

// frame is one record from a child on fd 3: an item of an iterator
// function, or the outcome, which is the last frame.
type frame struct {
	Item     codec.Raw       `msgpack:"item,omitempty" json:"item,omitempty"`
	Progress *codec.Progress `msgpack:"progress,omitempty" json:"progress,omitempty"`
	Outcome  *codec.Outcome  `msgpack:"outcome,omitempty" json:"outcome,omitempty"`
}

// maxFrame bounds a frame from a child: no record is larger than a NATS
// message may be, and this is well above the server's default.
const maxFrame = 64 << 20

// writeFrame writes fr in format f behind its length (4 bytes, big-endian).
func writeFrame(w io.Writer, f codec.Format, fr *frame) error {
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
func readFrame(r io.Reader, f codec.Format, fr *frame) error {
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
