package strand

import "errors"

// ErrForbidden: the task's caller may not call its function (an
// authorisation middleware refused it).
var ErrForbidden = errors.New("strand: forbidden")

// KindForbidden is the error kind of a task refused by an authorisation
// middleware: it fails at once and is never retried.
const KindForbidden = "forbidden"

// MetaCaller is the key of a task's meta that carries the identity of its
// caller (writer.Caller, writer.Config.Caller), for authorisation.
const MetaCaller = "caller"
