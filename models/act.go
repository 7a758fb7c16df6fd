package models

// SystemActor is Gatehouse itself, as the audit log names it for the
// work nobody asked for at the moment: the sweeper, the retention job and
// the mail worker.
var SystemActor = Actor{Email: "gatehouse", Tier: "system"}
