package action

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/sethvargo/go-githubactions"
)

// IO is what the action shows its user: a GitHub Actions runner's workflow
// commands and files (githubIO, over go-githubactions), or a terminal
// (cliIO). Callers ask it what they need to know (Terminal) rather than
// which one it is.
type IO interface {
	AddMask(secret string)
	Group(title string)
	EndGroup()
	Infof(format string, args ...any)
	Warningf(format string, args ...any)
	// Errorf writes an error annotation; file and line locate it when known.
	Errorf(file string, line int, format string, args ...any)
	SetOutput(key, value string) error
	AddStepSummary(markdown string) error
	// Terminal reports whether a person reads the output directly: reports
	// are then printed as text, and there is no job summary.
	Terminal() bool
	// Print writes text to standard output as it is (with secrets masked):
	// what a user or a later step reads, such as history's format.
	Print(text string)
	// Finish flushes anything kept until the end (the CLI's outputs), once;
	// the error that ends a failed run comes after it.
	Finish()
}

// githubIO writes workflow commands through go-githubactions.
type githubIO struct {
	a *githubactions.Action
	w io.Writer
}

func newGitHubIO(getenv func(string) string, w io.Writer) *githubIO {
	// Retries are logged from the concurrent reads of a plan: each line is
	// written whole, one at a time.
	w = &lockedWriter{w: w}
	return &githubIO{a: githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(w)), w: w}
}

func (g *githubIO) Terminal() bool { return false }

// Print writes to the step's log as it is; the runner masks the secrets.
func (g *githubIO) Print(s string) { fmt.Fprint(g.w, s) }

func (g *githubIO) AddMask(s string) {
	// A workflow command is one line: mask each line of a multi-line secret.
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			g.a.AddMask(line)
		}
	}
}
func (g *githubIO) Group(t string)                 { g.a.Group(t) }
func (g *githubIO) EndGroup()                      { g.a.EndGroup() }
func (g *githubIO) Infof(f string, args ...any)    { g.a.Infof(f, args...) }
func (g *githubIO) Warningf(f string, args ...any) { g.a.Warningf(f, args...) }
func (g *githubIO) Finish()                        {}
func (g *githubIO) Errorf(file string, line int, f string, args ...any) {
	a := g.a
	if file != "" {
		fields := map[string]string{"file": file, "title": "mlreg-action"}
		if line > 0 {
			fields["line"] = strconv.Itoa(line)
		}
		a = a.WithFieldsMap(fields)
	}
	a.Errorf(f, args...)
}

// fileDelimiter is the fixed heredoc delimiter go-githubactions writes; a value
// holding it as a line would end the value early and inject outputs.
const fileDelimiter = "_GitHubActionsFileCommandDelimeter_"

func (g *githubIO) SetOutput(k, v string) (err error) {
	if strings.Contains(v, fileDelimiter) {
		return fmt.Errorf("failed to set output %s: value contains the file command delimiter", k)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("failed to set output %s: %v", k, r)
		}
	}()
	g.a.SetOutput(k, v)
	return nil
}

func (g *githubIO) AddStepSummary(md string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("failed to write job summary: %v", r)
		}
	}()
	g.a.AddStepSummary(md)
	return nil
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// cliIO writes plain text for a terminal: the log on stderr, reports and
// history on stdout, the outputs that have a value listed at the end
// (every output with allOutputs).
type cliIO struct {
	mu         sync.Mutex
	out        io.Writer
	err        io.Writer
	outputs    map[string]string
	allOutputs bool
	masks      []string // secrets replaced by *** in everything printed
}

func (c *cliIO) Terminal() bool { return true }
func (c *cliIO) Print(s string) { c.printf(c.out, "%s", s) }

func (c *cliIO) redact(s string) string {
	for _, m := range c.masks {
		s = strings.ReplaceAll(s, m, "***")
	}
	return s
}

func (c *cliIO) printf(w io.Writer, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprint(w, c.redact(fmt.Sprintf(format, args...)))
}

func newCLIIO(stdout, stderr io.Writer, allOutputs bool) *cliIO {
	return &cliIO{out: stdout, err: stderr, outputs: map[string]string{}, allOutputs: allOutputs}
}

func (c *cliIO) AddMask(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			c.masks = append(c.masks, line)
		}
	}
}
func (c *cliIO) Group(t string)                 { c.printf(c.err, "==> %s\n", t) }
func (c *cliIO) EndGroup()                      {}
func (c *cliIO) Infof(f string, args ...any)    { c.printf(c.err, "    "+f+"\n", args...) }
func (c *cliIO) Warningf(f string, args ...any) { c.printf(c.err, "warning: "+f+"\n", args...) }
func (c *cliIO) Errorf(file string, line int, f string, args ...any) {
	msg := fmt.Sprintf(f, args...)
	loc := ""
	if file != "" {
		loc = file + ": "
		if line > 0 {
			loc = fmt.Sprintf("%s:%d: ", file, line)
		}
	}
	// A policy or manifest error names its position itself: say it once.
	if strings.Contains(msg, strings.TrimSuffix(loc, " ")) {
		loc = ""
	}
	c.printf(c.err, "error: %s%s\n", loc, msg)
}
func (c *cliIO) SetOutput(k, v string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outputs[k] = v
	return nil
}
func (c *cliIO) AddStepSummary(md string) error {
	c.printf(c.out, "%s\n", md)
	return nil
}
func (c *cliIO) Finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.outputs))
	for k, v := range c.outputs {
		if v != "" || c.allOutputs {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return
	}
	sort.Strings(keys)
	fmt.Fprintln(c.err, "==> outputs")
	for _, k := range keys {
		fmt.Fprint(c.err, c.redact(fmt.Sprintf("    %s=%s\n", k, c.outputs[k])))
	}
	c.outputs = map[string]string{}
}
