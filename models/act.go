package models

import "time"

// Act is who makes a change and when, as its audit event records them.
type Act struct {
	Now time.Time
	By  Actor
}

// SystemActor is Gatehouse itself, as the audit log names it for the
// work nobody asked for at the moment: the sweeper, the retention job and
// the mail worker.
var SystemActor = Actor{Email: "gatehouse", Tier: "system"}
