package strand_test

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/taskctx"
)

func TestRetryAndPermanent(t *testing.T) {
	t.Parallel()
	base := fmt.Errorf("read: %w", io.ErrUnexpectedEOF)

	wrapped := fmt.Errorf("fetch: %w", strand.Retry(base, 50*time.Millisecond))
	var re *taskctx.RetryError
	if !errors.As(wrapped, &re) || re.After != 50*time.Millisecond {
		t.Fatalf("errors.As(RetryError) on %v: %+v", wrapped, re)
	}
	if !errors.Is(wrapped, io.ErrUnexpectedEOF) || wrapped.Error() != "fetch: read: unexpected EOF" {
		t.Fatalf("retry error %q hides its cause", wrapped)
	}

	perm := fmt.Errorf("charge: %w", strand.Permanent(base))
	var pe *taskctx.PermanentError
	if !errors.As(perm, &pe) || !errors.Is(perm, io.ErrUnexpectedEOF) || perm.Error() != "charge: read: unexpected EOF" {
		t.Fatalf("permanent error %q: as %v, is %v", perm, pe, errors.Is(perm, io.ErrUnexpectedEOF))
	}
	if errors.As(perm, &re) {
		t.Fatal("a permanent error matched RetryError")
	}
	if strand.KindOf(strand.Permanent(strand.ErrBadArgs)) != strand.ErrBadArgs {
		t.Fatal("Permanent hides the kind of its error")
	}
	if strand.Retry(nil, -1).(*taskctx.RetryError).After != 0 || strand.Permanent(nil).Error() == "" {
		t.Fatal("nil errors are not replaced")
	}
}
