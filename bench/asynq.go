package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server process the bench started, and stops.
type redisServer struct {
	cmd  *exec.Cmd
	addr string
	done chan error
}

// findRedis returns the redis-server binary: path if given, else PATH,
// else /usr/bin/redis-server.
func findRedis(path string) (string, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%v: %w", err, errSkipped)
		}
		return path, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server", nil
	}
	return "", fmt.Errorf("no redis-server in PATH or /usr/bin (apt-get install -y redis-server): %w", errSkipped)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startRedis starts redis-server on a free 127.0.0.1 port without
// persistence and waits until it answers PING.
func startRedis(ctx context.Context, path string) (*redisServer, error) {
	bin, err := findRedis(path)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "yes")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	r := &redisServer{cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait() }()
	c := redis.NewClient(&redis.Options{Addr: r.addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := c.Ping(pctx).Err()
		cancel()
		if err == nil {
			return r, nil
		}
		select {
		case werr := <-r.done:
			return nil, fmt.Errorf("redis-server exited: %v", werr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("redis-server on %s: %w", r.addr, err)
		}
	}
}

// rss is the server's peak RSS (VmHWM).
func (r *redisServer) rss() int64 {
	return procStatus(strconv.Itoa(r.cmd.Process.Pid), "VmHWM")
}

// stop ends the process by its PID: SIGTERM, then SIGKILL after 5s.
func (r *redisServer) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// asynqCycle is asynq's server and client on a redis-server of its own.
type asynqCycle struct {
	redis  *redisServer
	srv    *asynq.Server
	client *asynq.Client
	ins    *asynq.Inspector
}

const (
	asynqQueue = "bench"
	// asynqRetention keeps completed tasks and their results, as strand
	// keeps outcomes; one-at-a-time needs them to read the result.
	asynqRetention = time.Hour
)

type nopLogger struct{}

func (nopLogger) Debug(...any) {}
func (nopLogger) Info(...any)  {}
func (nopLogger) Warn(...any)  {}
func (nopLogger) Error(...any) {}
func (nopLogger) Fatal(...any) {}

func startAsynq(ctx context.Context, e *env, t *tally) (cycle, error) {
	rs, err := startRedis(ctx, e.cfg.Redis)
	if err != nil {
		return nil, err
	}
	opt := asynq.RedisClientOpt{Addr: rs.addr}
	a := &asynqCycle{redis: rs, client: asynq.NewClient(opt), ins: asynq.NewInspector(opt)}
	a.srv = asynq.NewServer(opt, asynq.Config{
		Concurrency: e.cfg.Pool,
		Queues:      map[string]int{asynqQueue: 1},
		// asynq polls redis; its default (1s when the queue is empty)
		// would make the one-at-a-time figure the poll interval.
		TaskCheckInterval: time.Millisecond,
		Logger:            nopLogger{},
		LogLevel:          asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("add", func(_ context.Context, task *asynq.Task) error {
		var ab [2]int
		if err := json.Unmarshal(task.Payload(), &ab); err != nil {
			return fmt.Errorf("add: %v: %w", err, asynq.SkipRetry)
		}
		if _, err := task.ResultWriter().Write(strconv.AppendInt(nil, int64(ab[0]+ab[1]), 10)); err != nil {
			return err
		}
		t.hit()
		return nil
	})
	if err := a.srv.Start(mux); err != nil {
		_ = a.close(ctx)
		return nil, fmt.Errorf("asynq server: %w", err)
	}
	return a, nil
}

func (a *asynqCycle) enqueue(ctx context.Context) (*asynq.TaskInfo, error) {
	return a.client.EnqueueContext(ctx, asynq.NewTask("add", args), asynq.Queue(asynqQueue), asynq.Retention(asynqRetention))
}

func (a *asynqCycle) submit(ctx context.Context, n int) error {
	for range n {
		if _, err := a.enqueue(ctx); err != nil {
			return err
		}
	}
	return nil
}

// one enqueues a task and polls its state every millisecond until it is
// completed: asynq has no push of results.
func (a *asynqCycle) one(ctx context.Context) error {
	info, err := a.enqueue(ctx)
	if err != nil {
		return err
	}
	for {
		ti, err := a.ins.GetTaskInfo(asynqQueue, info.ID)
		if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return err
		}
		if ti != nil && ti.State == asynq.TaskStateCompleted {
			if string(ti.Result) != "3" {
				return fmt.Errorf("asynq task %s: result %q, want 3", info.ID, ti.Result)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// extraRSS is redis-server's peak RSS: asynq's state lives there, not in
// this process.
func (a *asynqCycle) extraRSS() (string, int64) { return "redis-server", a.redis.rss() }

func (a *asynqCycle) close(context.Context) error {
	if a.srv != nil {
		a.srv.Shutdown()
	}
	_ = a.client.Close()
	_ = a.ins.Close()
	a.redis.stop()
	return nil
}
