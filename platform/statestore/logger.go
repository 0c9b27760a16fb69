package statestore

import "go.uber.org/zap"

// pebbleLogger routes pebble's own messages (flushes, compactions, errors)
// to zap. They name files and sizes, never keys or values.
type pebbleLogger struct{ s *zap.SugaredLogger }

func (l pebbleLogger) Infof(format string, args ...any)  { l.s.Debugf(format, args...) }
func (l pebbleLogger) Errorf(format string, args ...any) { l.s.Errorf(format, args...) }
func (l pebbleLogger) Fatalf(format string, args ...any) { l.s.Fatalf(format, args...) }
