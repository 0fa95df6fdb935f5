package codec

import (
	"encoding/json"
	"fmt"

	strand "github.com/strand-run/strand"
)

// A Value is one encoded value of a task — an arg, its kwargs, a result,
// an item — that decodes into a Go value as a handler's parameter is
// decoded: the implementation of strand.Value that every package hands
// out.
type Value struct {
	F    Format
	Raw  Raw
	I    int64  // an item's number, from 0 (0 for anything else)
	Pos  int    // an arg's position, from 1 (0 for anything else)
	What string // what it is, for errors: "the result of task …"; for an arg, whose it is: "task …"
	Err  error  // what a decoding error wraps besides the codec's (strand.ErrBadArgs for a task's args); nil for none
}

// Decode decodes the value into out, a pointer (nil discards it).
func (v Value) Decode(out any) error {
	if out == nil {
		return nil
	}
	if err := DecodeValue(v.F, v.Raw, out, false); err != nil {
		if v.Err != nil {
			return fmt.Errorf("%w: decode %s into %T: %w", v.Err, v.describe(), out, err)
		}
		return fmt.Errorf("decode %s into %T: %w", v.describe(), out, err)
	}
	return nil
}

// JSON is the value as JSON text, whatever its codec: what strand's
// gateway answers with (it asserts this method on a strand.Value).
func (v Value) JSON() (json.RawMessage, error) {
	b, err := ToJSON(v.F, v.Raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.describe(), err)
	}
	return b, nil
}

// describe is what the value is, for errors: an arg's description is
// made only when one is needed, not for every arg of every task.
func (v Value) describe() string {
	switch {
	case v.Pos == 0:
		return v.What
	case v.What == "":
		return fmt.Sprintf("arg %d", v.Pos)
	}
	return fmt.Sprintf("arg %d of %s", v.Pos, v.What)
}

// ValueJSON is v, a strand.Value, as JSON text, whatever its codec: null
// for nil; an error for a value with no JSON form (every value strand
// hands out has one: this type's JSON method).
func ValueJSON(v strand.Value) (json.RawMessage, error) {
	if v == nil {
		return json.RawMessage("null"), nil
	}
	j, ok := v.(interface {
		JSON() (json.RawMessage, error)
	})
	if !ok {
		return nil, fmt.Errorf("a %T has no JSON form", v)
	}
	return j.JSON()
}

// N is an item's number, from 0 in each attempt (0 for anything else).
func (v Value) N() int64 { return v.I }
