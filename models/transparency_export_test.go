package models

// CutReportTransactions makes the transparency job make n reports to a
// transaction, until the returned func restores the default.
func CutReportTransactions(n int) (restore func()) {
	old := reportsPerTx
	reportsPerTx = n
	return func() { reportsPerTx = old }
}
