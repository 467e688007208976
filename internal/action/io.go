package action

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/sethvargo/go-githubactions"

	"github.com/mlreg/mlreg-action/internal/notify"
)

// IO is what the action shows its user: a GitHub Actions runner's workflow
// commands and files (githubIO, over go-githubactions), or a terminal
// (cliIO). Callers ask it what they need to know (Terminal) rather than
// which one it is.
//
// It is the one place output is written, and the one place text from the
// registry, the artifact store or the repository is neutralised: a format
// string is the tool's own, and each argument is shown masked and escaped
// (notify.EscapeLine: an Infof line stays one line; Warningf and Errorf
// keep the line breaks of a message that lists problems one per line), so
// that no line starts a workflow command the tool did not mean or acts on a
// terminal.
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
	// Print writes text to standard output as it is (with secrets masked
	// and each line neutralised, see notify.EscapeLines): what a user or a
	// later step reads, such as history's format.
	Print(text string)
	// Finish flushes anything kept until the end (the CLI's outputs), once;
	// the error that ends a failed run comes after it.
	Finish()
}

// githubIO writes workflow commands through go-githubactions, and the log's
// other lines itself, neutralised (safeWriter): the SDK's Infof writes
// its arguments as they are, and a line break in a tag value would start a
// workflow command. Its arguments are what the registry, the artifact store
// and the repository say; the format strings are the tool's own.
type githubIO struct {
	a     *githubactions.Action // workflow commands, whose data the SDK escapes
	w     io.Writer             // the log's other lines, neutralised
	masks masker                // also masked here, before escaping hides them from the runner's masking
}

func newGitHubIO(getenv func(string) string, w io.Writer) *githubIO {
	// Retries are logged from the concurrent reads of a plan: each line is
	// written whole, one at a time.
	w = &lockedWriter{w: w}
	return &githubIO{a: githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(w)), w: safeWriter{w}}
}

func (g *githubIO) Terminal() bool { return false }

// Print writes to the step's log, each line neutralised.
func (g *githubIO) Print(s string) { fmt.Fprint(g.w, g.masks.redact(s)) }

func (g *githubIO) AddMask(s string) {
	// A workflow command is one line: mask each line of a multi-line secret.
	for _, line := range g.masks.add(s) {
		g.a.AddMask(line)
	}
}
func (g *githubIO) Group(t string) { g.a.Group(notify.EscapeLine(g.masks.redact(t))) }
func (g *githubIO) EndGroup()      { g.a.EndGroup() }
func (g *githubIO) Infof(f string, args ...any) {
	g.Print(fmt.Sprintf(f, g.masks.inLine(args)...) + "\n")
}
func (g *githubIO) Warningf(f string, args ...any) { g.a.Warningf(f, g.masks.inLines(args)...) }
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
	a.Errorf(f, g.masks.inLines(args)...)
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

// safeWriter writes text from the registry or the repository as lines of
// output that cannot start a workflow command or act on a terminal
// (notify.EscapeLines). Each write starts a line: IO writes whole lines.
type safeWriter struct{ w io.Writer }

func (s safeWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(s.w, notify.EscapeLines(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// masker holds the secrets to mask and masks them, in text and in the
// arguments of a line; each line of a multi-line secret is a secret.
type masker struct {
	mu    sync.Mutex
	masks []string
}

// add records the lines of secret, and returns them.
func (m *masker) add(secret string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var lines []string
	for _, line := range strings.Split(secret, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	m.masks = append(m.masks, lines...)
	return lines
}

// redact replaces every secret in s by ***.
func (m *masker) redact(s string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, secret := range m.masks {
		s = strings.ReplaceAll(s, secret, "***")
	}
	return s
}

// inLine readies the arguments of a log line: each is formatted as its verb
// asks, then masked, then shown on one line (notify.EscapeLine).
func (m *masker) inLine(args []any) []any { return m.shown(notify.EscapeLine, args) }

// inLines is inLine for the arguments of an annotation, which may list
// problems one per line (the SDK escapes its line breaks): each keeps its
// line breaks, and each of its lines is neutralised (notify.EscapeLines).
func (m *masker) inLines(args []any) []any { return m.shown(notify.EscapeLines, args) }

func (m *masker) shown(escape func(string) string, args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = shown{v: a, escape: escape, m: m}
	}
	return out
}

// shown is one argument of a line of output.
type shown struct {
	v      any
	escape func(string) string
	m      *masker
}

func (s shown) Format(f fmt.State, verb rune) {
	_, _ = io.WriteString(f, s.escape(s.m.redact(fmt.Sprintf(fmt.FormatString(f, verb), s.v))))
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
// (every output with allOutputs). Every line is neutralised (safeWriter),
// as in a workflow: a terminal runs escape sequences, and the CLI may run
// in a workflow step too.
type cliIO struct {
	mu         sync.Mutex
	out        io.Writer
	err        io.Writer
	outputs    map[string]string
	allOutputs bool
	masks      masker // secrets replaced by *** in everything printed
}

func (c *cliIO) Terminal() bool { return true }
func (c *cliIO) Print(s string) { c.printf(c.out, "%s", s) }

func (c *cliIO) redact(s string) string { return c.masks.redact(s) }

func (c *cliIO) printf(w io.Writer, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprint(w, c.redact(fmt.Sprintf(format, args...)))
}

func newCLIIO(stdout, stderr io.Writer, allOutputs bool) *cliIO {
	return &cliIO{out: safeWriter{stdout}, err: safeWriter{stderr}, outputs: map[string]string{}, allOutputs: allOutputs}
}

func (c *cliIO) AddMask(s string)            { c.masks.add(s) }
func (c *cliIO) Group(t string)              { c.printf(c.err, "==> %s\n", c.masks.inLine([]any{t})...) }
func (c *cliIO) EndGroup()                   {}
func (c *cliIO) Infof(f string, args ...any) { c.printf(c.err, "    "+f+"\n", c.masks.inLine(args)...) }
func (c *cliIO) Warningf(f string, args ...any) {
	c.printf(c.err, "warning: "+f+"\n", c.masks.inLines(args)...)
}
func (c *cliIO) Errorf(file string, line int, f string, args ...any) {
	msg := fmt.Sprintf(f, c.masks.inLines(args)...)
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
	c.printf(c.err, "error: %s%s\n", c.masks.inLine([]any{loc})[0], msg)
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
