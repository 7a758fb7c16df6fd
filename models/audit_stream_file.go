package models

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"
)

// StreamFile is an audit stream written to a file, which replicas may
// share: each writes at its end (O_APPEND), holding a lock on the file
// from checking its claim until the lines it wrote are synced, so that a
// replica taking the stream over reads the file's end only once the
// previous holder can no longer write to it.
type StreamFile struct {
	f *os.File
}

// OpenStreamFile opens (or creates) the stream file at path.
func OpenStreamFile(path string) (*StreamFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600) // #nosec G304 -- the operator's GATEHOUSE_AUDIT_STREAM
	if err != nil {
		return nil, err
	}
	return &StreamFile{f: f}, nil
}

// Write appends p.
func (s *StreamFile) Write(p []byte) (int, error) { return s.f.Write(p) }

// Close closes the file.
func (s *StreamFile) Close() error { return s.f.Close() }

// lock waits for the file's lock, which another replica holds only for
// one round of shipping, until ctx ends.
func (s *StreamFile) lock(ctx context.Context) error {
	for {
		ok, err := tryLockFile(s.f)
		if err != nil {
			return fmt.Errorf("audit stream file lock: %w", err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s *StreamFile) unlock() error { return unlockFile(s.f) }

// resume ends a line cut short by a crash, so that the next event starts
// a line of its own (the cut line stays, and readers skip it), and
// returns the seq of the file's last complete event line: 0 when it has
// none.
func (s *StreamFile) resume() (int64, error) {
	info, err := s.f.Stat()
	if err != nil {
		return 0, err
	}
	size := info.Size()
	if size == 0 {
		return 0, nil
	}
	last := make([]byte, 1)
	if _, err := s.f.ReadAt(last, size-1); err != nil {
		return 0, fmt.Errorf("read audit stream file: %w", err)
	}
	if last[0] != '\n' {
		if _, err := s.f.Write([]byte{'\n'}); err != nil {
			return 0, fmt.Errorf("audit stream file: %w", err)
		}
		size++
	}
	return lastEventSeq(s.f, size)
}

// lastEventSeq reads f backwards from end, which ends a line, a block at
// a time, to the last event line; 0 when there is none.
func lastEventSeq(f *os.File, end int64) (int64, error) {
	const block = 64 << 10
	var tail []byte // f's bytes from off to end
	off := end
	for off > 0 {
		n := min(block, off)
		off -= n
		buf := make([]byte, n, int(n)+len(tail))
		if _, err := f.ReadAt(buf, off); err != nil {
			return 0, fmt.Errorf("read audit stream file: %w", err)
		}
		tail = append(buf, tail...)
		// tail ends with '\n'; take its whole lines from the last on.
		for len(tail) > 0 {
			i := bytes.LastIndexByte(tail[:len(tail)-1], '\n')
			if i < 0 && off > 0 {
				break // the line starts in an earlier block
			}
			if c, ok := parseStreamLine(tail[i+1 : len(tail)-1]); ok && c.Type == "event" {
				return c.Seq, nil
			}
			tail = tail[:i+1]
		}
		if len(tail) > maxStreamLine {
			return 0, fmt.Errorf("read audit stream file: a line longer than %d MiB before offset %d, not a line the portal wrote", maxStreamLine>>20, end)
		}
	}
	return 0, nil
}
