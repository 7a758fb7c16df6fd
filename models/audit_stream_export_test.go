package models

import "time"

// ResumeStreamFile is what a shipper taking the stream over reads of f:
// it ends a line cut short and returns the seq of the last complete event
// line.
func ResumeStreamFile(f *StreamFile) (int64, error) { return f.resume() }

// SetRoundTime sets how long s ships in one round before it leaves the
// rest to the next.
func SetRoundTime(s *AuditShipper, d time.Duration) { s.roundTime = d }
