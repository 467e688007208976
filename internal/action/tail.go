package action

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// ExitNotify is the exit status of a run whose promotion (or check) succeeded
// but whose notification failed, with fail-on-notify-error: true. It is
// distinct from 3 (registry error) because the registry change stands.
const ExitNotify = 5

// finish is the one tail of every run. With a report (rep is nil when the
// run stopped before a command ran: bad arguments, inputs or MLflow
// settings) it writes the outputs and the JSON report file, shows the
// report (job summary, or text on a terminal), and sends the notifications,
// all in the notify phase. Then it writes the one ::error annotation of a
// failed run and returns the exit status: err's, mapped here and nowhere
// else, or 5 when only a notification failed under fail-on-notify-error.
func (d *deps) finish(ctx context.Context, cfg *Config, rep *notify.Report, err error) int {
	if err != nil && cfg != nil {
		err = d.explain(err, cfg.errModel(err))
	}
	code := exitCode(err)
	notifyErr := ""
	if rep != nil {
		if err != nil {
			if rep.Outcome == "" {
				rep.Outcome = outcomeOf(code, err)
			}
			if rep.Error == "" {
				rep.Error = err.Error()
			}
		}
		d.phase("notify")
		d.setOutputs(append(rep.Outputs(), d.reportFile(rep)...))
		d.show(cfg, rep)
		if rep.Notifies() {
			if failed := d.notify(ctx, cfg, rep); len(failed) > 0 && code == ExitOK && cfg.FailOnNotifyError {
				notifyErr = "notification failed (fail-on-notify-error; the registry change stands): " + strings.Join(failed, "; ")
				code = ExitNotify
			}
		}
		d.endPhase()
	}
	d.out.Finish() // the outputs, before the error: the error is the last line
	switch {
	case err != nil:
		d.annotate(err, code)
	case notifyErr != "":
		d.out.Errorf("", 0, "%s", notifyErr)
	}
	return code
}

// exitCode maps an error to its exit status (README, "Exit status"). finish
// is its only caller.
func exitCode(err error) int {
	_, perr := errorsAs[checks.Errors](err)
	_, single := errorsAs[*checks.Error](err)
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, promote.ErrPolicyFailed):
		return ExitPolicy
	case errors.Is(err, promote.ErrConflict):
		return ExitConflict
	case errors.Is(err, promote.ErrInvalid), perr, single:
		return ExitInvalid
	default:
		return ExitRegistry
	}
}

// outcomeOf is the outcome of a report whose command did not say one.
func outcomeOf(code int, err error) outcome.Outcome {
	if _, partial := errorsAs[*promote.PartialError](err); partial {
		return outcome.Failed
	}
	switch code {
	case ExitConflict:
		return outcome.Conflict
	case ExitPolicy:
		return outcome.Blocked
	}
	return outcome.Failed
}

// explain adds what to do about an authorization failure, as the
// registry explains it (registry.Rules.ExplainError).
func (d *deps) explain(err error, model string) error {
	if d.reg == nil { // the run stopped before the registry was built
		return err
	}
	return d.reg.ExplainError(err, model)
}

// annotate writes the one ::error annotation of a failed run; a policy problem
// carries the policy file and line.
func (d *deps) annotate(err error, code int) {
	if perr, ok := errorsAs[checks.Errors](err); ok && len(perr) > 0 {
		d.out.Errorf(perr[0].File, perr[0].Line, "%v", err)
		return
	}
	if single, ok := errorsAs[*checks.Error](err); ok {
		d.out.Errorf(single.File, single.Line, "%v", err)
		return
	}
	// The sentinels (promote.ErrPolicyFailed, ...) already start the
	// message with the label; say it once.
	msg := err.Error()
	if label := exitLabel(code); !strings.HasPrefix(msg, label+":") {
		msg = label + ": " + msg
	}
	d.out.Errorf("", 0, "%s", msg)
}

func exitLabel(code int) string {
	switch code {
	case ExitPolicy:
		return "policy not met"
	case ExitInvalid:
		return "invalid input"
	case ExitRegistry:
		return "registry error"
	case ExitConflict:
		return "conflict"
	}
	return "error"
}

func (d *deps) setOutputs(outs [][2]string) {
	for _, kv := range outs {
		if err := d.out.SetOutput(kv[0], kv[1]); err != nil {
			d.out.Warningf("%v", err)
		}
	}
}

var slugRE = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// reportFile writes the JSON report and returns its output, report-path;
// none when it cannot be written, which is a warning.
func (d *deps) reportFile(rep *notify.Report) [][2]string {
	path, err := d.writeReport(rep)
	if err != nil {
		d.out.Warningf("%v", err)
		return nil
	}
	return [][2]string{{"report-path", path}}
}

// writeReport writes the JSON report under .mlreg/ in the working directory,
// which is the workspace in a workflow, so later steps can read it.
func (d *deps) writeReport(rep *notify.Report) (string, error) {
	name := slugRE.ReplaceAllString(rep.FileName(), "_")
	rel := filepath.Join(".mlreg", strings.Trim(name, "_")+".json")
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", fmt.Errorf("failed to encode report: %w", err)
	}
	full := d.path(rel)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return "", fmt.Errorf("failed to create report directory: %w", err)
	}
	if err := os.WriteFile(full, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("failed to write report %s: %w", rel, err)
	}
	return rel, nil
}

// show gives the report to its reader: the job summary in a workflow (in
// Markdown), text on a terminal. A report with a listing (history) also
// writes it to standard output in the format input's form, in a workflow
// too, for the steps or scripts that read it.
func (d *deps) show(cfg *Config, rep *notify.Report) {
	terminal := d.out.Terminal()
	listing, listed, err := rep.Listing(cfg.Format, terminal)
	switch {
	case err != nil:
		d.out.Warningf("%v", err)
	case listed:
		if listing != "" {
			d.out.Print(listing)
		}
	case terminal:
		// A terminal gets text, not Markdown, and the error once: in the
		// error line that ends the run, not also in the report.
		text := *rep
		text.Error = ""
		d.out.Print("\n" + text.Text() + "\n")
	}
	if !terminal {
		if err := d.out.AddStepSummary(rep.Markdown()); err != nil {
			d.out.Warningf("%v", err)
		}
	}
}

// notify delivers the report to the pull request, a GitHub deployment and
// Slack, after the job summary is written, and sets the notification
// outputs. A failed notification never changes what the command did: it is
// a warning and a line of notify-errors, returned for finish to weigh
// (fail-on-notify-error).
func (d *deps) notify(ctx context.Context, cfg *Config, rep *notify.Report) []string {
	res := notify.Send(ctx, rep, notify.Settings{
		Event:       d.event,
		GitHub:      d.github,
		Comment:     cfg.PRComment,
		Deployment:  cfg.Deployment,
		Environment: cfg.DeploymentEnvironment,
		Slack:       d.slack,
		Store:       registryTags{reg: d.reg},
		TagKey:      d.reg.TagKey,
		Secrets:     cfg.Secrets(),
	})
	for _, l := range res.Lines(d.detail()) {
		d.out.Infof("%s", l)
	}
	for _, w := range res.Warnings {
		d.out.Warningf("%s", w)
	}
	for _, e := range res.Errors {
		d.out.Warningf("notification failed: %s", e)
	}
	d.setOutputs(res.Outputs())
	return res.Errors
}
