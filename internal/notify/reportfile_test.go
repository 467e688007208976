package notify_test

import (
	"encoding/json"
	"testing"

	"github.com/mlreg/mlreg-action/internal/notify"
)

// everyReport is every kind of report (promotion, registration, history,
// manifest) in the cases the renderings are checked on, failures included.
func everyReport() map[string]*notify.Report {
	out := map[string]*notify.Report{}
	for name, r := range reports() {
		if name != "many-checks" { // checked for its limits only
			out[name] = r
		}
	}
	for name, r := range fleetReports() {
		out[name] = r
	}
	out["register"], out["register-reused"] = registered(false), registered(true)
	out["history-drift"], out["history"] = history(true), history(false)
	for _, cmd := range []string{"register", "history"} {
		out[cmd+"-error"] = failed(cmd)
	}
	return out
}

// TestReportFileGolden: the JSON report file of every kind of report, as
// the action writes it (report-path), and its text on a terminal. The file
// is what later steps and scripts read: it must not change by a byte.
func TestReportFileGolden(t *testing.T) {
	t.Parallel()
	for name, r := range everyReport() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".report.json", string(b)+"\n")
			golden(t, name+".txt", r.Text())
		})
	}
}
