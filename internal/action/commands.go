package action

import (
	"slices"
	"strings"
)

// Command names. The command table (commands) is the one list of them.
const (
	CmdValidate = "validate"
	CmdPromote  = "promote"
	CmdRegister = "register"
	CmdRollback = "rollback"
	CmdHistory  = "history"
)

// Command is one command of the binary. Everything that knows the commands
// knows them from the table: the command line parses the name and lists the
// summary and the flags in the help, loadConfig checks the command input
// against it, Main runs Run, and the command input's description (Inputs,
// action.yml) is the list of names; tests hold README's command table to it.
type Command struct {
	Name    string
	Summary string     // one line, for the help
	Flags   []*flagSet // the inputs it reads, by set; none for a builtin
	// Moves: when its plan passes, the command moves the target and records
	// it (promote, rollback), unless dry-run; validate plans the same move
	// and stops.
	Moves bool
	// Run does the command; nil for a builtin of the command line (version,
	// help), which no input names.
	Run command
}

// flagSet is inputs that the same commands read: the help lists each set
// under the commands whose Flags hold it.
type flagSet struct{ inputs []string }

// The flag sets, in the order the help lists them (flagSets). An input in
// none is listed under "Other flags" by the help, so none is ever hidden.
var (
	connectionFlags = &flagSet{[]string{"model-name", "tracking-uri", "mlflow-token", "mlflow-username",
		"mlflow-password", "registry-uri", "timeout"}}
	targetFlags    = &flagSet{[]string{"target-alias", "target-stage"}}
	candidateFlags = &flagSet{[]string{"version", "manifest", "parallelism"}}
	policyFlags    = &flagSet{[]string{"policy"}}
	reportFlags    = &flagSet{[]string{"github-token", "pr-comment", "slack-token", "slack-channel",
		"slack-webhook-url", "fail-on-notify-error"}}
	moveFlags = &flagSet{[]string{"dry-run", "expected-current-version", "archive-existing", "deployment",
		"deployment-environment"}}
	registerFlags = &flagSet{[]string{"run-id", "artifact-path", "source", "description", "tags", "allow-unfinished-run"}}
	rollbackFlags = &flagSet{[]string{"rollback-to", "force"}}
	historyFlags  = &flagSet{[]string{"format"}}
	driftFlags    = &flagSet{[]string{"fail-on-drift"}}
	digestFlags   = &flagSet{[]string{"expected-plan-digest"}}

	flagSets = []*flagSet{connectionFlags, targetFlags, candidateFlags, policyFlags, reportFlags, moveFlags,
		registerFlags, rollbackFlags, historyFlags, driftFlags, digestFlags}
)

// commands is the command table, in the order the help lists them.
var commands = []Command{
	{Name: CmdValidate, Summary: "resolve the candidate and the champion, evaluate the policy, report; never changes the registry",
		Flags: []*flagSet{connectionFlags, targetFlags, candidateFlags, policyFlags, reportFlags, driftFlags},
		Run:   runPromote},
	{Name: CmdPromote, Summary: "validate, then move the alias and/or stage and write the audit record (the default)",
		Flags: []*flagSet{connectionFlags, targetFlags, candidateFlags, policyFlags, reportFlags, moveFlags, digestFlags},
		Moves: true, Run: runPromote},
	{Name: CmdRegister, Summary: "create a model version from a run or a logged model, with lineage tags",
		Flags: []*flagSet{connectionFlags, reportFlags, registerFlags},
		Run:   runRegister},
	{Name: CmdRollback, Summary: "move the target back to the version that held it before",
		Flags: []*flagSet{connectionFlags, targetFlags, policyFlags, reportFlags, moveFlags, rollbackFlags},
		Moves: true, Run: runRollback},
	{Name: CmdHistory, Summary: "print the promotion history of a target and flag drift",
		Flags: []*flagSet{connectionFlags, targetFlags, historyFlags, driftFlags},
		Run:   runHistory},
	{Name: "version", Summary: "print the version of mlreg-action (also --version)"},
	{Name: "help", Summary: "print this help, or a command's: mlreg-action help promote"},
}

// defaultCommand runs when the command input is not set.
const defaultCommand = CmdPromote

// commandNamed is the command of that name, builtins included.
func commandNamed(name string) (*Command, bool) {
	for i := range commands {
		if commands[i].Name == name {
			return &commands[i], true
		}
	}
	return nil, false
}

// isCommand reports whether name is a command an input can run (no builtin).
func isCommand(name string) bool {
	c, ok := commandNamed(name)
	return ok && c.Run != nil
}

// commandNames is the names of the commands an input can run, in the
// table's order; with builtins, the builtins too.
func commandNames(builtins bool) []string {
	var out []string
	for _, c := range commands {
		if c.Run != nil || builtins {
			out = append(out, c.Name)
		}
	}
	return out
}

// reads reports whether the command reads the input.
func (c *Command) reads(input string) bool {
	return slices.ContainsFunc(c.Flags, func(s *flagSet) bool { return slices.Contains(s.inputs, input) })
}

// commandReads reports whether the command of that name reads the input
// (false for no command).
func commandReads(name, input string) bool {
	c, ok := commandNamed(name)
	return ok && c.reads(input)
}

// readers is the names of the commands that read the input.
func readers(input string) []string {
	var out []string
	for _, c := range commands {
		if c.reads(input) {
			out = append(out, c.Name)
		}
	}
	return out
}

// commandInput is the command input, whose description lists the commands.
func commandInput() Input {
	return Input{Name: "command", Default: defaultCommand, Desc: joinWords(commandNames(false), "or")}
}

// joinWords is "validate, promote or history" (word "or"), "validate and promote" (word "and").
func joinWords(names []string, word string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " " + word + " " + names[len(names)-1]
}
