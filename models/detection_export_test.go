package models

import "context"

// Step evaluates one batch, as one round of Run would, for tests that
// interleave detectors step by step (as two replicas would take turns).
func (d *Detector) Step(ctx context.Context) (n int, more bool, err error) {
	return d.step(ctx)
}

// FailNextStep makes the detector's next step fail once it has evaluated
// its events and written the aggregates, before it moves the position, so
// its transaction rolls back (as after a lost connection or a crash).
func (d *Detector) FailNextStep() { d.failNext = true }
