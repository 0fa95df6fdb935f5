package inspect

import (
	"fmt"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/rs/zerolog"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
)

// Config is an Inspector's settings. The zero value works.
type Config struct {
	// Queue replayed dead letters go to when theirs is unreadable
	// (default "default").
	Queue string `envconfig:"QUEUE"`
	// ResultTTL is how long the cancellations of Act are kept (default 24h).
	ResultTTL time.Duration `envconfig:"RESULT_TTL"`
	// TaskTTL is the longest a replayed or resubmitted task may wait in its
	// queue before it expires unrun (default 14 days).
	TaskTTL time.Duration `envconfig:"TASK_TTL"`
	// Caller is who pauses queues, kept in the pause record (default none).
	Caller string `envconfig:"CALLER"`
	// Logger receives warnings (a worker record that does not decode);
	// nil logs nothing.
	Logger *zerolog.Logger `ignored:"true"`
}

// FromEnv reads a Config from STRAND_QUEUE, STRAND_RESULT_TTL,
// STRAND_TASK_TTL and STRAND_CALLER; fields left unset keep their defaults.
func FromEnv() (Config, error) {
	var c Config
	if err := envconfig.Process("strand", &c); err != nil {
		return Config{}, fmt.Errorf("inspect: environment: %w", err)
	}
	return c, nil
}

// Inspector reads and manages what the server holds for every queue. It is
// safe for concurrent use and holds nothing open: closing the broker ends it.
type Inspector struct {
	b   *broker.Broker
	cfg Config
	log zerolog.Logger
}

const (
	defaultQueue     = "default"
	defaultResultTTL = 24 * time.Hour
	defaultTaskTTL   = 14 * 24 * time.Hour
)

// New returns an Inspector over b. A TTL out of the server's bounds is
// refused with an error wrapping strand.ErrBadOption.
func New(b *broker.Broker, cfg Config) (*Inspector, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: inspect: no broker", strand.ErrBadOption)
	}
	if cfg.Queue == "" {
		cfg.Queue = defaultQueue
	}
	if cfg.ResultTTL <= 0 {
		cfg.ResultTTL = defaultResultTTL
	}
	if cfg.TaskTTL <= 0 {
		cfg.TaskTTL = defaultTaskTTL
	}
	if cfg.ResultTTL < broker.MinTTL || cfg.TaskTTL < broker.MinTTL {
		return nil, fmt.Errorf("%w: result TTL %v and task TTL %v must be at least %v", strand.ErrBadOption, cfg.ResultTTL, cfg.TaskTTL, broker.MinTTL)
	}
	if cfg.ResultTTL > broker.MaxResultTTL {
		return nil, fmt.Errorf("%w: result TTL %v is over the maximum of %v", strand.ErrBadOption, cfg.ResultTTL, broker.MaxResultTTL)
	}
	in := &Inspector{b: b, cfg: cfg, log: zerolog.Nop()}
	if cfg.Logger != nil {
		in.log = *cfg.Logger
	}
	return in, nil
}
