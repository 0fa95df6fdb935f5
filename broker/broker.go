// Package broker is strand's connection to NATS: Connect (or New over a
// connection you already have) gives the *Broker that writers, readers,
// inspectors and workflow clients share. It provisions strand's streams and
// buckets on first use and follows the server through reconnects and,
// with Failover, to another server of its URL list when its server cannot
// reach JetStream.
//
//	b, err := broker.Connect(ctx, broker.Config{}) // nats://127.0.0.1:4222
//	cfg, err := broker.FromEnv()                   // or from STRAND_* variables
package broker

import (
	"context"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	ib "github.com/strand-run/strand/internal/broker"
)

// Config says how to reach NATS and how strand lays itself out there. The
// zero value connects to nats://127.0.0.1:4222.
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
	// FailoverInterval, FailoverTimeout and FailoverFailures tune the
	// watchdog that moves the connection to another server of its URL list
	// when its server cannot reach JetStream (a node cut off from its
	// cluster while the client link stays up): the interval between two
	// checks while connected (default 1s; negative turns the watchdog off),
	// the timeout of one check, a JetStream account info request (default
	// 1s), and how many checks in a row must find JetStream unreachable
	// before the connection moves (default 3).
	FailoverInterval time.Duration `envconfig:"FAILOVER_INTERVAL"`
	FailoverTimeout  time.Duration `envconfig:"FAILOVER_TIMEOUT"`
	FailoverFailures int           `envconfig:"FAILOVER_FAILURES"`
	// Logger receives a warning at each failover move (default: none).
	Logger *zerolog.Logger `ignored:"true"`
}

// FromEnv reads a Config from STRAND_* environment variables
// (STRAND_SERVER, STRAND_CREDS, STRAND_PREFIX, STRAND_FAILOVER_INTERVAL, …).
func FromEnv() (Config, error) {
	var c Config
	err := envconfig.Process("strand", &c)
	return c, err
}

func (c Config) internal() ib.Config {
	return ib.Config{
		URL: c.URL, Name: c.Name, Creds: c.Creds, NKey: c.NKey, Token: c.Token, User: c.User,
		Password: c.Password, TLSCert: c.TLSCert, TLSKey: c.TLSKey, TLSCA: c.TLSCA,
		InboxPrefix: c.InboxPrefix, Prefix: c.Prefix, Replicas: c.Replicas,
		ConnectTimeout: c.ConnectTimeout, DLQMaxAge: c.DLQMaxAge, ItemsMaxAge: c.ItemsMaxAge,
		Failover: ib.FailoverConfig{Interval: c.FailoverInterval, Timeout: c.FailoverTimeout,
			Failures: c.FailoverFailures, Logger: c.Logger},
	}
}

// Broker is a connection to NATS with strand's streams and buckets: the one
// thing writers, readers and inspectors share. Safe for concurrent use.
type Broker ib.Broker

// Connect dials NATS as cfg says (reconnecting forever) and provisions
// strand's streams and buckets; extra nats.go options are added to cfg's.
func Connect(ctx context.Context, cfg Config, extra ...nats.Option) (*Broker, error) {
	b, err := ib.Connect(ctx, cfg.internal(), extra...)
	return (*Broker)(b), err
}

// New is Connect over a connection the caller already has and keeps
// owning: Close leaves it open.
func New(ctx context.Context, nc *nats.Conn, cfg Config) (*Broker, error) {
	b, err := ib.New(ctx, nc, cfg.internal())
	return (*Broker)(b), err
}

// Conn is the underlying NATS connection.
func (b *Broker) Conn() *nats.Conn { return (*ib.Broker)(b).Conn() }

// Close drains the connection if Connect opened it (New's is left open).
func (b *Broker) Close() error { return (*ib.Broker)(b).Close() }
