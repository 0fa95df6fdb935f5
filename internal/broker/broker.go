package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says how to reach NATS and how strand's names and streams are laid
// out there. The zero value is a working default: a local server, prefix
// "strand", one replica. Every field can be set from the environment
// (STRAND_SERVER, STRAND_CREDS, …), see FromEnv.
type Config struct {
	// URL of the NATS server(s), comma separated (default nats://127.0.0.1:4222).
	URL string `envconfig:"SERVER"`
	// Name of the connection, shown in the server's monitoring (default "strand").
	Name string `envconfig:"NAME"`
	// Creds is a credentials file (JWT + NKey seed).
	Creds string `envconfig:"CREDS"`
	// NKey is an NKey seed file.
	NKey string `envconfig:"NKEY"`
	// Token authenticates with a token.
	Token string `envconfig:"TOKEN"`
	// User and Password authenticate with a user name and password.
	User     string `envconfig:"USER"`
	Password string `envconfig:"PASSWORD"`
	// TLSCert and TLSKey are a client certificate; TLSCA verifies the server.
	TLSCert string `envconfig:"TLS_CERT"`
	TLSKey  string `envconfig:"TLS_KEY"`
	TLSCA   string `envconfig:"TLS_CA"`
	// InboxPrefix is the prefix of the connection's reply subjects (default
	// "_INBOX"): give each user its own, and allow it to subscribe only to
	// <prefix>.>, so that no user reads another's replies (docs/operations.md).
	InboxPrefix string `envconfig:"INBOX_PREFIX"`
	// Prefix namespaces every subject and bucket (default "strand").
	Prefix string `envconfig:"PREFIX"`
	// Replicas of the streams and buckets strand creates (default 1; 3 for production clusters).
	Replicas int `envconfig:"REPLICAS"`
	// ConnectTimeout bounds the first connection (default 5s).
	ConnectTimeout time.Duration `envconfig:"CONNECT_TIMEOUT"`
	// DLQMaxAge is how long dead letters are kept (default 30 days). It
	// applies when the dead-letter stream is created.
	DLQMaxAge time.Duration `envconfig:"DLQ_MAX_AGE"`
	// ItemsMaxAge is how long streamed items are kept (default 24h, the
	// default result TTL). It applies when the items stream is created.
	ItemsMaxAge time.Duration `envconfig:"ITEMS_MAX_AGE"`
	// Failover moves the connection off a server that cannot reach JetStream (STRAND_FAILOVER_*).
	Failover FailoverConfig `envconfig:"FAILOVER"`
}

// FromEnv reads a Config from STRAND_* environment variables.
func FromEnv() (Config, error) {
	var c Config
	err := envconfig.Process("strand", &c)
	return c, err
}

func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = nats.DefaultURL
	}
	if c.Name == "" {
		c.Name = "strand"
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	return c
}

// Options returns the nats.go options for c: authentication, TLS, and
// reconnects that never give up (a worker or writer outlives server restarts).
func (c Config) Options() ([]nats.Option, error) {
	c = c.withDefaults()
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.Timeout(c.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(64 << 20),
		nats.DrainTimeout(10 * time.Second),
	}
	if c.Creds != "" {
		opts = append(opts, nats.UserCredentials(c.Creds))
	}
	if c.NKey != "" {
		o, err := nats.NkeyOptionFromSeed(c.NKey)
		if err != nil {
			return nil, fmt.Errorf("nkey %s: %w", c.NKey, err)
		}
		opts = append(opts, o)
	}
	if c.Token != "" {
		opts = append(opts, nats.Token(c.Token))
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.TLSCert != "" || c.TLSKey != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.InboxPrefix))
	}
	return opts, nil
}

// Broker is a connection to NATS with strand's bucket provisioned: the
// one thing writers and readers share.
type Broker struct {
	conn   *nats.Conn
	js     jetstream.JetStream
	names  Names
	cfg    Config
	owned  bool
	closed chan struct{}

	stopProvision context.CancelFunc // set while provisioning goes on in the background
	provisioning  sync.WaitGroup

	rmu      sync.Mutex
	resync   signal                   // events may have been lost (resync.go)
	lost     signal                   // write answers may have been lost
	settling map[*time.Timer]struct{} // the resyncs still to come
	settled  bool                     // Close: no more resyncs
	leaders  []*nats.Subscription     // the streams' leader elections
	watching sync.WaitGroup           // making those subscriptions

	failover *failover // the JetStream watchdog; nil when it is off

	denials denials // the server's refusals, for the calls waiting on them (denied.go)

	flows      flowCache   // workflow definitions, which never change (flow.go)
	seen       queuesSeen  // queues found by their tasks, without a consumer (queues.go)
	sched      schedState  // whether the schedules stream is usable (schedule.go)
	flowCtl    flowKV      // the flow control bucket, once known (flow.go)
	ratesMade  ratesStream // the rates stream, once made (limits.go)
	leaseSlots slotBook    // slots this process released (limits.go)
}

// Connect dials NATS as cfg says and provisions strand's bucket.
func Connect(ctx context.Context, cfg Config, extra ...nats.Option) (*Broker, error) {
	cfg = cfg.withDefaults()
	opts, err := cfg.Options()
	if err != nil {
		return nil, err
	}
	closed := make(chan struct{})
	opts = append(opts, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	nc, err := nats.Connect(cfg.URL, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", cfg.URL, err)
	}
	b, err := New(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	b.owned, b.closed = true, closed
	return b, nil
}

// New provisions strand's bucket over an existing connection, which the
// caller keeps owning (Close leaves it open).
func New(ctx context.Context, nc *nats.Conn, cfg Config) (*Broker, error) {
	cfg = cfg.withDefaults()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096), jetstream.WithPublishAsyncTimeout(15*time.Second))
	if err != nil {
		return nil, err
	}
	b := &Broker{conn: nc, js: js, names: NewNames(cfg.Prefix), cfg: cfg,
		resync: newSignal(), lost: newSignal(), settling: make(map[*time.Timer]struct{})}
	b.watchDenials(nc)
	prev := nc.Opts.ReconnectedCB
	nc.SetReconnectHandler(func(c *nats.Conn) {
		b.unsettle()
		if prev != nil {
			prev(c)
		}
	})
	b.watchLeaders()
	// Provisioning reads (and if need be creates) the streams. A cluster
	// electing a leader answers none of it for a moment; a producer need
	// not wait for that (its writes ride the election out), so provisioning
	// that fails so goes on in the background.
	pctx, cancel := context.WithTimeout(ctx, b.cfg.ConnectTimeout)
	err = b.provision(pctx)
	cancel()
	if err != nil {
		if !Transient(err) || ctx.Err() != nil {
			b.stopResync()
			return nil, err
		}
		b.provisionLater(err)
	}
	b.startFailover()
	return b, nil
}

// provisionLater provisions in the background until it succeeds or the
// broker closes.
func (b *Broker) provisionLater(first error) {
	ctx, cancel := context.WithCancel(context.Background())
	b.stopProvision = cancel
	b.provisioning.Go(func() {
		err := first
		for wait := 250 * time.Millisecond; err != nil; wait = min(2*wait, 5*time.Second) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			err = b.provision(ctx)
		}
	})
}

// markerTTL is how long purge markers stay, and the workers bucket's
// delete and expiry markers.
const markerTTL = time.Minute

func (b *Broker) provision(ctx context.Context) error {
	if err := b.provisionStreams(ctx); err != nil {
		return err
	}
	// Apart: a user who may not use schedules still runs its tasks.
	return b.provisionSchedules(ctx)
}

func (b *Broker) provisionStreams(ctx context.Context) (err error) {
	ctx, stop := b.refusable(ctx, "$JS.API.STREAM.>", "$JS.API.INFO")
	defer func() { err = refused(ctx, err); stop() }()
	n := b.names
	// The bucket is made as a stream, as a KV library would make it, but
	// without limit markers: an expired state or outcome just goes, instead
	// of leaving a marker behind for a minute (nobody watches for expiry,
	// and 200 000 markers cost as much as the records did).
	if err := b.ensureStream(ctx, "bucket", jetstream.StreamConfig{
		Name:              n.Stream(),
		Description:       "strand task records: states (s.<queue>.<id>), outcomes (r.<queue>.<id>), cancellations (c.<queue>.<id>)",
		Subjects:          []string{"$KV." + n.Bucket() + ".>"},
		MaxMsgsPerSubject: 1,
		AllowRollup:       true,
		DenyDelete:        true,
		AllowDirect:       true,
		AllowMsgTTL:       true,
		// Every write is republished as an event: waiters follow outcomes
		// and cancellations, workers cancellations, watchers states.
		RePublish: &jetstream.RePublish{Source: "$KV." + n.Bucket() + ".>", Destination: n.EventPrefix() + ">"},
	}); err != nil {
		return err
	}
	// Tasks: one subject per task in a work queue, so the ack removes a
	// task that has run, and the server itself refuses a second task on a
	// subject that holds one (create-only that no client can skip).
	if err := b.ensureStream(ctx, "tasks", jetstream.StreamConfig{
		Name:                 n.TasksStream(),
		Description:          "strand queued tasks: one message per task, <prefix>.t.<queue>.<id>, removed by its ack",
		Subjects:             []string{n.TaskSubjects()},
		Retention:            jetstream.WorkQueuePolicy,
		MaxMsgsPerSubject:    1,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		AllowMsgTTL:          true,
		AllowDirect:          true,
		AllowRollup:          false,
	}); err != nil {
		return err
	}
	if err := b.provisionDLQ(ctx); err != nil {
		return err
	}
	return b.provisionItems(ctx)
}

// retryTransient runs op again while it fails in a way a retry can fix
// (a cluster electing a leader), until ctx ends.
func retryTransient(ctx context.Context, op func() error) error {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := op()
		if err == nil || !Transient(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// QueueConfig tunes a queue's consumer.
type QueueConfig struct {
	// AckWait is how long a task may run without a heartbeat before it is
	// redelivered to another worker (default 30s).
	AckWait time.Duration
	// MaxDeliver caps deliveries of one task (default 10): a safety net
	// against a task that kills every worker that runs it.
	MaxDeliver int
	// MaxAckPending bounds tasks handed out and not yet acknowledged
	// (default 1000); keep it above the workers' total pool size.
	MaxAckPending int
}

// EnsureQueue creates or updates the durable consumer of queue and returns it.
func (b *Broker) EnsureQueue(ctx context.Context, queue string, qc QueueConfig) (jetstream.Consumer, error) {
	return b.EnsureLane(ctx, queue, "", qc)
}

// EnsureLane creates or updates the durable consumer of one priority lane
// of queue (LaneHigh, LaneLow, or "" for the normal lane: EnsureQueue).
func (b *Broker) EnsureLane(ctx context.Context, queue, lane string, qc QueueConfig) (jetstream.Consumer, error) {
	if qc.AckWait <= 0 {
		qc.AckWait = 30 * time.Second
	}
	if qc.MaxDeliver <= 0 {
		qc.MaxDeliver = 10
	}
	if qc.MaxAckPending <= 0 {
		qc.MaxAckPending = 1000
	}
	n := b.names
	ctx, stop := b.refusable(ctx, "$JS.API.CONSUMER.CREATE."+n.TasksStream()+"."+n.LaneConsumer(queue, lane)+".>")
	defer stop()
	var c jetstream.Consumer
	err := retryTransient(ctx, func() (err error) {
		c, err = b.js.CreateOrUpdateConsumer(ctx, n.TasksStream(), jetstream.ConsumerConfig{
			Durable:       n.LaneConsumer(queue, lane),
			Description:   strings.TrimSpace("strand queue " + queue + " " + lane),
			FilterSubject: n.LaneFilter(queue, lane),
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       qc.AckWait,
			MaxDeliver:    qc.MaxDeliver,
			MaxAckPending: qc.MaxAckPending,
			Replicas:      b.cfg.Replicas,
			// Prioritized: a worker's prefetch requests are filled only
			// while no request for a free slot waits (see Pull).
			PriorityGroups: []string{pullGroup},
			PriorityPolicy: jetstream.PriorityPolicyPrioritized,
		})
		return err
	})
	if err = refused(ctx, err); err != nil {
		return nil, fmt.Errorf("provision queue %s %s: %w", queue, lane, err)
	}
	return c, nil
}

// Conn is the NATS connection.
func (b *Broker) Conn() *nats.Conn { return b.conn }

// JetStream is the JetStream context.
func (b *Broker) JetStream() jetstream.JetStream { return b.js }

// Names are the subjects and buckets of this deployment.
func (b *Broker) Names() Names { return b.names }

// MaxPayload is the largest message the server accepts.
func (b *Broker) MaxPayload() int64 { return b.conn.MaxPayload() }

// Close drains the connection if Connect opened it.
func (b *Broker) Close() error {
	b.stopFailover()
	b.stopResync()
	if b.stopProvision != nil {
		b.stopProvision()
		b.provisioning.Wait()
	}
	if !b.owned {
		return nil
	}
	if err := b.conn.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		b.conn.Close()
		return err
	}
	select {
	case <-b.closed:
	case <-time.After(b.cfg.ConnectTimeout + 30*time.Second):
		b.conn.Close()
	}
	return nil
}
