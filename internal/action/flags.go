package action

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// inputValue is a flag's value: the text as given, stored under the input's
// name only when the flag is set, so that an unset flag falls back to the
// INPUT_ variable, the environment and the default (see source.get), and
// loadConfig checks every value the same way whichever way it came.
type inputValue struct {
	name  string
	typ   string // shown in the help: string, duration, or bool (shown as nothing)
	flags map[string]string
}

func (v *inputValue) String() string { return v.flags[v.name] }
func (v *inputValue) Type() string   { return v.typ }
func (v *inputValue) Set(s string) error {
	v.flags[v.name] = s
	return nil
}

// flagType is the type the help shows after a flag's name.
func flagType(in Input) string {
	switch {
	case in.Bool:
		return "bool"
	case in.Name == "timeout":
		return "duration"
	}
	return "string"
}

// addFlag declares the flag of in on fs; values land in flags.
func addFlag(fs *pflag.FlagSet, in Input, flags map[string]string) {
	f := fs.VarPF(&inputValue{name: in.Name, typ: flagType(in), flags: flags}, in.Name, "", in.Desc)
	f.DefValue = in.Default
	if in.Bool {
		f.NoOptDefVal = "true" // --dry-run stands for --dry-run=true
	}
}

// newFlagSet declares a flag for every input but command (the first argument).
func newFlagSet(flags map[string]string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("mlreg-action", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	for _, in := range Inputs {
		if in.Name != "command" {
			addFlag(fs, in, flags)
		}
	}
	return fs
}

// cmdLine is what the command line says.
type cmdLine struct {
	flags map[string]string // a flag for each input given, by input name, as given
	// verbose (-v, --verbose): on a terminal, the log also shows what the
	// report repeats (each check, each entry) and the notifications skipped.
	verbose bool
	// showOutputs (--show-outputs): on a terminal, every output is listed at
	// the end, the empty ones too.
	showOutputs bool
	help        string // the help asked for, to print
}

// cliFlag is a flag of the command line alone: no input stands behind it.
type cliFlag struct {
	Name, Short, Desc string
}

var cliFlags = []cliFlag{
	{"verbose", "v", "On a terminal, also log each check and entry (the report shows them) and the notifications skipped"},
	{"show-outputs", "", "On a terminal, list every output at the end, the empty ones too (default: those with a value)"},
}

// parseArgs reads the command line: the command (the first argument, when it
// is not a flag) and a flag for each input given, by input name, as given.
func parseArgs(args []string) (cmdLine, error) {
	cl := cmdLine{flags: map[string]string{}}
	var b strings.Builder
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help", "help":
			switch {
			case len(args) > 1 && isCommand(args[1]):
				writeCommandUsage(&b, args[1])
			case len(args) > 1 && !slices.Contains(commandNames(true), args[1]):
				return cmdLine{}, unknownCommand(args[1])
			default:
				writeUsage(&b)
			}
			cl.help = b.String()
			return cl, nil
		}
		if !strings.HasPrefix(args[0], "-") {
			if !isCommand(args[0]) {
				return cmdLine{}, unknownCommand(args[0])
			}
			cl.flags["command"] = args[0]
			args = args[1:]
		}
	}
	fs := newFlagSet(cl.flags)
	fs.BoolVarP(&cl.verbose, cliFlags[0].Name, cliFlags[0].Short, false, cliFlags[0].Desc)
	fs.BoolVar(&cl.showOutputs, cliFlags[1].Name, false, cliFlags[1].Desc)
	if err := fs.Parse(longFlags(args)); err != nil {
		if !errors.Is(err, pflag.ErrHelp) {
			return cmdLine{}, withFlagSuggestion(err)
		}
		if isCommand(cl.flags["command"]) {
			writeCommandUsage(&b, cl.flags["command"])
		} else {
			writeUsage(&b)
		}
		cl.help = b.String()
		return cl, nil
	}
	if fs.NArg() > 0 {
		return cmdLine{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return cl, nil
}

// unknownCommand is the error of a first argument that is no command: it
// says which one was probably meant, or else lists them.
func unknownCommand(name string) error {
	names := commandNames(true)
	hint := didYouMean(name, names, "")
	if hint == "" {
		hint = "; the commands are " + joinWords(names, "and")
	}
	return fmt.Errorf("unknown command %q%s", name, hint)
}

// withFlagSuggestion adds the flags the user probably meant to pflag's
// "unknown flag" error.
func withFlagSuggestion(err error) error {
	nx, ok := errorsAs[*pflag.NotExistError](err)
	if !ok || nx.GetSpecifiedShortnames() != "" {
		return err
	}
	return fmt.Errorf("%w%s", err, didYouMean(nx.GetSpecifiedName(), flagNames(), "--"))
}

// flagNames is every flag's name, in the order the help lists them.
func flagNames() []string {
	var out []string
	for _, in := range Inputs {
		if in.Name != "command" {
			out = append(out, in.Name)
		}
	}
	for _, f := range cliFlags {
		out = append(out, f.Name)
	}
	return append(out, "help")
}

// longFlags rewrites -name and -name=value, which Go's flag package (and so
// earlier releases) accepted, to --name: pflag reads a single dash as
// shorthand letters. A single dash followed by more than one letter is
// read as a name unless every letter is a shorthand (-vh), so that a
// mistyped -modle-name is reported by its name. Nothing after "--" is
// rewritten.
func longFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if strings.Trim(name, "vh") != "" {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

const usageIntro = `mlreg-action: govern promotions in an MLflow Model Registry

Usage:
  mlreg-action <command> [flags]
  mlreg-action <command> --help

Commands:
`

const usageFooter = `
Every other flag is also an input of the GitHub Action, of the same name. Unset
flags fall back to the INPUT_<NAME> variable, then to MLflow's environment
variables (MLFLOW_TRACKING_URI, ...), then to the default. MLflow's client
settings are read as MLflow reads them: MLFLOW_HTTP_REQUEST_MAX_RETRIES,
MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, MLFLOW_HTTP_REQUEST_BACKOFF_JITTER,
MLFLOW_HTTP_REQUEST_TIMEOUT, MLFLOW_TRACKING_INSECURE_TLS,
MLFLOW_TRACKING_SERVER_CERT_PATH, MLFLOW_TRACKING_CLIENT_CERT_PATH.

Exit status: 0 done or already in place, 1 policy not met (or drift with
fail-on-drift), 2 invalid input (mlreg-action alone, outside a workflow,
prints this help and exits 2), 3 registry error, 4 conflict (the target moved
since the plan), 5 a report failed with fail-on-notify-error (the registry
change stands).
`

// writeUsage writes the help of every command, its flags grouped by the
// commands that read them.
func writeUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString(usageIntro)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-10s %s\n", c.Name, c.Summary)
	}
	writeGroups(&b, groupsFor(""))
	b.WriteString(usageFooter)
	fmt.Fprint(w, b.String())
}

// writeCommandUsage writes the help of one command: only the flags it reads.
func writeCommandUsage(w io.Writer, command string) {
	var b strings.Builder
	if c, ok := commandNamed(command); ok {
		fmt.Fprintf(&b, "mlreg-action %s: %s\n\nUsage:\n  mlreg-action %s [flags]\n", c.Name, c.Summary, c.Name)
	}
	writeGroups(&b, groupsFor(command))
	b.WriteString(usageFooter)
	fmt.Fprint(w, b.String())
}

type renderedGroup struct {
	title string
	lines [][2]string // flag and type, description and default
}

// groupsFor lists the flag sets that command reads ("" = every set), each
// titled by the commands that read it, plus any input that no set lists.
func groupsFor(command string) []renderedGroup {
	var out []renderedGroup
	grouped := map[string]bool{"command": true}
	render := func(names []string) [][2]string {
		fs := pflag.NewFlagSet("", pflag.ContinueOnError)
		var lines [][2]string
		for _, n := range names {
			in, ok := inputByName(n)
			if !ok {
				continue
			}
			addFlag(fs, in, map[string]string{})
			f := fs.Lookup(n)
			// pflag's own rendering: "--name type", no type for a bool.
			varname, usage := pflag.UnquoteUsage(f)
			left := "    --" + f.Name
			if varname != "" {
				left += " " + varname
			}
			switch {
			case f.DefValue == "" || f.DefValue == "false":
			case f.Value.Type() == "string":
				usage += fmt.Sprintf(" (default %q)", f.DefValue)
			default:
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			lines = append(lines, [2]string{left, usage})
		}
		return lines
	}
	for _, g := range flagSets {
		for _, n := range g.inputs {
			grouped[n] = true
		}
		readBy := readers(g.inputs[0]) // every input of a set has the same readers
		if command != "" && !slices.Contains(readBy, command) {
			continue
		}
		title := "Flags of " + joinWords(readBy, "and")
		switch {
		case len(readBy) == len(commandNames(false)):
			title = "Flags of every command"
		case command != "" && len(readBy) == 1:
			title = "Flags of " + command + " only"
		}
		out = append(out, renderedGroup{title, render(g.inputs)})
	}
	var other []string
	for _, in := range Inputs {
		if !grouped[in.Name] {
			other = append(other, in.Name)
		}
	}
	if len(other) > 0 {
		out = append(out, renderedGroup{"Other flags", render(other)})
	}
	cli := renderedGroup{title: "Flags of the command line only (no input stands behind them)"}
	for _, f := range cliFlags {
		left := "    --" + f.Name
		if f.Short != "" {
			left = "-" + f.Short + ", --" + f.Name
		}
		cli.lines = append(cli.lines, [2]string{left, f.Desc})
	}
	return append(out, cli)
}

// writeGroups writes groups with one column width for all of them, as pflag
// does: "  -v, --verbose", "      --model-name string".
func writeGroups(b *strings.Builder, groups []renderedGroup) {
	width := 0
	for _, g := range groups {
		for _, l := range g.lines {
			width = max(width, len(l[0]))
		}
	}
	for _, g := range groups {
		fmt.Fprintf(b, "\n%s:\n", g.title)
		for _, l := range g.lines {
			fmt.Fprintf(b, "  %-*s   %s\n", width, l[0], l[1])
		}
	}
}
