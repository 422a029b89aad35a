package app

import (
	"encoding/json"
	"net/http"
)

// serveBudgets answers GET /status/budgets with the HighLevel rate budgets this process
// spends, by location id, so `starter status` can show how much of today's allowance is used:
// the budgets live only in the worker's memory.
func (a *App) serveBudgets(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(a.Conns.Budgets().Stats()); err != nil {
		a.log.Warn("status: encode budgets", "error", err)
	}
}
