package main

import (
	"context"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// traceFlag is --trace: where OpenTelemetry spans go.
type traceFlag struct {
	exporter string
}

func (f *traceFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.exporter, "trace", "", `export OpenTelemetry spans: "stdout" writes them as JSON to standard output (default: none) [$STRAND_TRACE]`)
}

// of is --trace, else STRAND_TRACE.
func (f *traceFlag) of(cmd *cobra.Command) string {
	if cmd.Flags().Changed("trace") {
		return f.exporter
	}
	return os.Getenv("STRAND_TRACE")
}

// startTracing installs the global TracerProvider that exporter names, so
// that the tracing middleware record spans; "" installs none (spans stay
// no-ops). stop flushes the spans still buffered.
func (a *app) startTracing(exporter string) (enabled bool, stop func(), err error) {
	switch exporter {
	case "":
		return false, func() {}, nil
	case "stdout":
	default:
		return false, nil, usageErrorf(`--trace %q: want "stdout"`, exporter)
	}
	exp, err := stdouttrace.New(stdouttrace.WithWriter(a.stdout))
	if err != nil {
		return false, nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	otel.SetTracerProvider(tp)
	return true, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			a.log.Warn().Err(err).Msg("flush traces")
		}
	}, nil
}
