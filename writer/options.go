package writer

import (
	"errors"
	"fmt"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/opt"
)

// call is one submission's options, resolved: the strand.Options given,
// then the writer's defaults for what they left unset.
type call struct {
	opt.Call
	format codec.Format
}

// resolve applies opts to a call and fills in the writer's defaults. An
// invalid option, or one the writer's limits refuse, is an error matching
// strand.ErrBadOption.
func (w *Writer) resolve(opts []strand.Option) (*call, error) {
	c := &call{format: codec.Msgpack}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: option %d is nil", strand.ErrBadOption, i+1)
		}
		o(&c.Call)
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	if c.Queue == "" {
		c.Queue = w.cfg.Queue
	}
	if c.ResultTTL == 0 {
		c.ResultTTL = w.cfg.ResultTTL
	}
	if !c.Has("Caller") {
		c.Caller = w.cfg.Caller // strand.Caller("") submits as no one
	}
	if w.cfg.JSON {
		c.format = codec.JSON
	}
	if c.Encoding != "" {
		f, ok := codec.Named(c.Encoding)
		if !ok {
			return nil, fmt.Errorf("%w: Encoding: no codec %q (msgpack, json, or one added with codec.Register)", strand.ErrBadOption, c.Encoding)
		}
		c.format = f
	}
	if c.ResultTTL < broker.MinTTL || c.ResultTTL > broker.MaxResultTTL {
		return nil, fmt.Errorf("%w: ResultTTL: %v is out of bounds [%v, %v]", strand.ErrBadOption, c.ResultTTL, broker.MinTTL, broker.MaxResultTTL)
	}
	if err := c.checkFlow(); err != nil {
		return nil, fmt.Errorf("%w: %w", strand.ErrBadOption, err)
	}
	return c, nil
}

// checkFlow refuses flow options that cannot work together or with the
// task's other options.
func (c *call) checkFlow() error {
	if c.Unique != "" && c.Debounce > 0 {
		return errors.New("options Unique and Debounce exclude each other")
	}
	if c.UniqueFor > c.ResultTTL {
		return fmt.Errorf("uniqueness window %v is beyond the result TTL %v: the task holding the key would be forgotten first", c.UniqueFor, c.ResultTTL)
	}
	if c.Debounce > c.ResultTTL {
		return fmt.Errorf("debounce window %v is beyond the result TTL %v", c.Debounce, c.ResultTTL)
	}
	if c.Fair && c.Key == "" {
		return errors.New("option Fair needs a key (Key, Unique or Debounce)")
	}
	return nil
}

// lane is the lane a task with options c waits in: its priority's, else
// the fair lane of its key, else the normal lane ("").
func (c *call) lane() string {
	switch {
	case c.Priority == opt.PriorityHigh || c.Priority == opt.PriorityLow:
		return c.Priority
	case c.Fair:
		return broker.FairLane(c.Key)
	}
	return ""
}

// flow reports whether the submit claims a key first (Unique or Debounce).
func (c *call) flow() bool { return c.Unique != "" || c.Debounce > 0 }

// checkArgs refuses a strand.Option among a call's args: options go after
// the args, as Submit's last arguments.
func checkArgs(args []any) error {
	for i, a := range args {
		if _, ok := a.(strand.Option); ok {
			return fmt.Errorf("%w: arg %d: an option among the args (pass it after the args slice)", strand.ErrBadOption, i+1)
		}
	}
	return nil
}

// only refuses the options of c that are not among names: for Open, which
// takes a queue and nothing else.
func only(c *call, what string, names ...string) error {
	for _, n := range c.Names() {
		ok := false
		for _, m := range names {
			ok = ok || n == m
		}
		if !ok {
			return fmt.Errorf("%w: %s takes no %s option", strand.ErrBadOption, what, n)
		}
	}
	return nil
}

func ms(t int64) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.UnixMilli(t)
}
