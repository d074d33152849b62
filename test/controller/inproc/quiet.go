package inproc

import "github.com/go-logr/logr"

// Quiet returns a logger that drops everything. logr.Discard() is not
// enough: its sink is nil, and the driver and the emulator replace a logger
// without a sink by klog's global one, which writes to stderr.
func Quiet() logr.Logger { return logr.New(nopSink{}) }

type nopSink struct{}

func (nopSink) Init(logr.RuntimeInfo)            {}
func (nopSink) Enabled(int) bool                 { return false }
func (nopSink) Info(int, string, ...any)         {}
func (nopSink) Error(error, string, ...any)      {}
func (n nopSink) WithValues(...any) logr.LogSink { return n }
func (n nopSink) WithName(string) logr.LogSink   { return n }
