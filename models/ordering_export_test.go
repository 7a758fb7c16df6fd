package models

// SetBeforeAudit makes d run f after each read (before a reveal's
// transaction), before its event is recorded: where a test ends the
// grant to race the use. nil removes it.
func SetBeforeAudit(d *TenantData, f func()) { d.beforeAudit = f }
