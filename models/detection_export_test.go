package models

import "context"

// Step evaluates one batch, as one round of Run would, for tests that
// interleave detectors step by step (as two replicas would take turns).
func (d *Detector) Step(ctx context.Context) (n int, more bool, err error) {
	return d.step(ctx)
}
