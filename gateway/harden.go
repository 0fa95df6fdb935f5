package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits bound what one client, and all of them, may hold of a gateway's
// server (Serve): connections, and the time to send a request. A field
// left zero takes its default.
type Limits struct {
	// ReadHeaderTimeout bounds the time to send a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// BodyTimeout bounds the time to send a request's headers and body
	// (default 30s): a slower body gets a 408 and its connection is closed.
	BodyTimeout time.Duration
	// WriteTimeout bounds the time to answer a request (default 60s);
	// event streams and waits (?wait=) extend it to what they need.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection idle this long (default 2m).
	IdleTimeout time.Duration
	// MaxConns caps the connections open at once (default 512); beyond it a
	// new connection is answered 503 and closed at once.
	MaxConns int
	// MaxConnsPerIP caps the connections open at once from one client
	// address (default 64); beyond it a new one is answered 429 and closed.
	MaxConnsPerIP int
	// MaxHeaderBytes caps a request's headers (default 64 KiB).
	MaxHeaderBytes int
	// ShutdownTimeout bounds how long Serve waits, once its ctx ends, for
	// the requests in flight to finish (default 10s); event streams and
	// waits (?wait=) are ended at once.
	ShutdownTimeout time.Duration
}

// defaultLimits are the limits of a gateway's server unless configured.
var defaultLimits = Limits{
	ReadHeaderTimeout: 10 * time.Second,
	BodyTimeout:       30 * time.Second,
	WriteTimeout:      60 * time.Second,
	IdleTimeout:       2 * time.Minute,
	MaxConns:          512,
	MaxConnsPerIP:     64,
	MaxHeaderBytes:    64 << 10,
	ShutdownTimeout:   10 * time.Second,
}

func (l Limits) withDefaults() Limits {
	d := defaultLimits
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = d.BodyTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.MaxConns <= 0 {
		l.MaxConns = d.MaxConns
	}
	if l.MaxConnsPerIP <= 0 {
		l.MaxConnsPerIP = d.MaxConnsPerIP
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.ShutdownTimeout <= 0 {
		l.ShutdownTimeout = d.ShutdownTimeout
	}
	return l
}

// Serve serves h (a gateway's handler, or one that wraps it) on l until
// ctx ends, holding up against slow and abusive clients as lim says: the
// timeouts of a request, and at most lim.MaxConns connections at once,
// lim.MaxConnsPerIP from one client address. A connection over a cap is
// answered at once (503 over the global cap, 429 over a client's) and
// closed, so that it holds a file descriptor for no longer than that.
//
// When ctx ends, Serve stops accepting connections, ends event streams and
// waits at once, lets the other requests in flight finish for up to
// lim.ShutdownTimeout, then closes what is left and returns: nil, or
// context.DeadlineExceeded when it had to close requests still running.
// It returns earlier with the error of a listener that fails.
func Serve(ctx context.Context, l net.Listener, h http.Handler, lim Limits) error {
	lim = lim.withDefaults()
	return serve(ctx, listen(l, lim), h, lim)
}

func serve(ctx context.Context, l *limitListener, h http.Handler, lim Limits) error {
	// The requests' contexts are not ctx's: they end when the shutdown
	// begins, not before (a request in flight may finish).
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.BodyTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	srv.RegisterOnShutdown(cancel) // event streams and waits end at once
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, stop := context.WithTimeout(context.Background(), lim.ShutdownTimeout)
	defer stop()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
	}
	<-served // http.ErrServerClosed
	return err
}

// listen wraps l so that it holds at most lim.MaxConns connections at
// once, and lim.MaxConnsPerIP from one client address.
func listen(l net.Listener, lim Limits) *limitListener {
	return &limitListener{Listener: l, max: lim.MaxConns, perIP: lim.MaxConnsPerIP, byIP: map[string]int{}}
}

type limitListener struct {
	net.Listener
	max, perIP int

	mu    sync.Mutex
	total int
	byIP  map[string]int
}

// refusals are the answers to a connection over a cap.
var (
	refuseBusy = refusal(http.StatusServiceUnavailable, "busy", "too many connections to the gateway; retry later")
	refuseIP   = refusal(http.StatusTooManyRequests, "too_many_connections", "too many connections from your address; retry later")
)

func refusal(code int, kind, msg string) []byte {
	body, _ := json.Marshal(apiError{Error: errorBody{Kind: kind, Message: msg}})
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := c.RemoteAddr().String()
		if h, _, err := net.SplitHostPort(ip); err == nil {
			ip = h
		}
		l.mu.Lock()
		var answer []byte
		switch {
		case l.total >= l.max:
			answer = refuseBusy
		case l.byIP[ip] >= l.perIP:
			answer = refuseIP
		default:
			l.total++
			l.byIP[ip]++
		}
		l.mu.Unlock()
		if answer != nil {
			go refuse(c, answer)
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// refuse answers a connection over a cap and closes it, within a second
// whatever the client does.
func refuse(c net.Conn, answer []byte) {
	_ = c.SetDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(answer)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		// Read a little of what the client sent, so that closing does not
		// reset the connection before the client reads the answer.
		_, _ = io.CopyN(io.Discard, c, 64<<10)
	}
	_ = c.Close()
}

// limitedConn gives its slot back once, when it closes.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// longLived lifts the server's read and write timeouts from a request that
// answers for up to d (0: an event stream, without end): its body, if any,
// has been read.
func longLived(rw http.ResponseWriter, d time.Duration) {
	rc := http.NewResponseController(rw)
	_ = rc.SetReadDeadline(time.Time{})
	if d <= 0 {
		_ = rc.SetWriteDeadline(time.Time{})
		return
	}
	_ = rc.SetWriteDeadline(time.Now().Add(d + 30*time.Second))
}

// errBadJSON is a body that is not strict JSON: invalid UTF-8, a lone
// surrogate escape, or an integer that fits neither int64 nor uint64.
var errBadJSON = errors.New("bad JSON")

// readBody reads a request's body up to MaxBody, answering 413, 408 or
// 400 itself when it cannot (ok is false then).
func (g *gateway) readBody(rw http.ResponseWriter, r *http.Request) (body []byte, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, g.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &mbe):
			writeError(rw, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is larger than %d bytes", mbe.Limit))
		case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
			rw.Header().Set("Connection", "close")
			writeError(rw, http.StatusRequestTimeout, "timeout", "the body was not sent in time")
		default:
			writeError(rw, http.StatusBadRequest, "bad_request", "read body: "+err.Error())
		}
		return nil, false
	}
	return body, true
}

// decodeBody reads a request's JSON body into v, strictly: one value, no
// unknown fields, valid UTF-8 only and no lone surrogate escape (which
// encoding/json would turn into U+FFFD), and no integer beyond int64 or
// uint64 (which it would turn into a float). It answers 4xx itself when
// the body is refused (ok is false then).
func (g *gateway) decodeBody(rw http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := g.readBody(rw, r)
	if !ok {
		return false
	}
	if err := strictJSON(body); err != nil {
		writeError(rw, http.StatusBadRequest, "bad_json", "body: "+err.Error())
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(rw, http.StatusBadRequest, "bad_json", "body: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(rw, http.StatusBadRequest, "bad_json", "body: more than one JSON value")
		return false
	}
	return true
}

var (
	minInt64  = big.NewInt(-1 << 63)
	maxUint64 = new(big.Int).SetUint64(1<<64 - 1)
)

// strictJSON checks what encoding/json lets through silently: invalid
// UTF-8, lone surrogate escapes, and integers that fit neither int64 nor
// uint64. It does not check the syntax otherwise (the decoder does).
func strictJSON(data []byte) error {
	if !utf8.Valid(data) {
		i := invalidAt(data)
		return fmt.Errorf("%w: invalid UTF-8 at byte %d", errBadJSON, i)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return nil // a syntax error: the decoder reports it
		}
		switch t := tok.(type) {
		case json.Number:
			if err := fitsInteger(string(t)); err != nil {
				return err
			}
		case string:
			if err := checkEscapes(data[off:dec.InputOffset()]); err != nil {
				return err
			}
		}
	}
}

func invalidAt(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(data)
}

// fitsInteger refuses an integer (no fraction, no exponent) outside
// [-2^63, 2^64-1]: it would become a float.
func fitsInteger(s string) error {
	if strings.ContainsAny(s, ".eE") {
		return nil
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Cmp(minInt64) < 0 || n.Cmp(maxUint64) > 0 {
		return fmt.Errorf("%w: integer %.40s does not fit 64 bits (send it as a string, or as a float with a fraction)", errBadJSON, s)
	}
	return nil
}

// checkEscapes refuses a lone UTF-16 surrogate escape (\ud800 without its
// pair) in the raw text of a JSON string (or object key) token.
func checkEscapes(raw []byte) error {
	i := bytes.IndexByte(raw, '"')
	if i < 0 {
		return nil
	}
	s := raw[i+1:]
	for j := 0; j < len(s); j++ {
		if s[j] != '\\' || j+1 >= len(s) {
			continue
		}
		if s[j+1] != 'u' {
			j++
			continue
		}
		r1, ok := hex4(s[j+2:])
		if !ok {
			return nil
		}
		switch {
		case utf16.IsSurrogate(r1) && r1 < 0xdc00:
			if j+11 < len(s) && s[j+6] == '\\' && s[j+7] == 'u' {
				if r2, ok := hex4(s[j+8:]); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
					j += 11
					continue
				}
			}
			return fmt.Errorf("%w: lone surrogate escape \\u%04x", errBadJSON, r1)
		case utf16.IsSurrogate(r1):
			return fmt.Errorf("%w: lone surrogate escape \\u%04x", errBadJSON, r1)
		}
		j += 5
	}
	return nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}
