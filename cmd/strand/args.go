package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// parseJSON decodes s, which must hold exactly one JSON value. Numbers
// without a fraction or exponent become int64 (uint64 above its range), the
// others float64, so that integers stay integers on the msgpack wire.
func parseJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one value")
	}
	return numbers(v)
}

// numbers replaces the json.Numbers in v by int64, uint64 or float64.
func numbers(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i, nil
			}
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("number %s is out of range", s)
		}
		return f, nil
	case []any:
		for i := range x {
			n, err := numbers(x[i])
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	case map[string]any:
		for k := range x {
			n, err := numbers(x[k])
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
	}
	return v, nil
}

// parseArgs parses the task's positional arguments, one JSON value each.
func parseArgs(args []string) ([]any, error) {
	out := make([]any, len(args))
	for i, s := range args {
		v, err := parseJSON(s)
		if err != nil {
			hint := fmt.Sprintf(`quote strings for the shell, e.g. '"%s"'`, s)
			if strings.HasPrefix(s, "-") {
				hint = "flags go before FUNC: strand submit [flags] FUNC [ARG...]"
			}
			return nil, usageErrorf("arg %d: %s is not a JSON value (%v); %s", i+1, s, err, hint)
		}
		out[i] = v
	}
	return out, nil
}

// parseKwargs parses --kwargs, which must be a JSON object.
func parseKwargs(s string) (map[string]any, error) {
	v, err := parseJSON(s)
	if err != nil {
		return nil, usageErrorf("--kwargs %s is not JSON (%v); want an object such as '{\"n\": 1}'", s, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, usageErrorf("--kwargs %s: want a JSON object such as '{\"n\": 1}'", s)
	}
	return m, nil
}

// parseMeta parses --meta k=v pairs.
func parseMeta(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	meta := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--meta %q: want key=value", p)
		}
		meta[k] = v
	}
	return meta, nil
}
