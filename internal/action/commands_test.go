package action

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readmeSection is the text of README.md under the heading, up to the next
// heading of the same level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q", heading)
	}
	section, _, _ = strings.Cut(section, "\n"+strings.Fields(heading)[0]+" ")
	return section
}

// TestCommandTable: every row is a command an input runs or a builtin of
// the command line, names are unique, the default is a command, and every
// command reads the inputs every command reads.
func TestCommandTable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, c := range commands {
		if seen[c.Name] {
			t.Errorf("the command table has %q twice", c.Name)
		}
		seen[c.Name] = true
		if c.Summary == "" {
			t.Errorf("%s has no summary for the help", c.Name)
		}
		if c.Run == nil && (len(c.Flags) > 0 || c.Moves) {
			t.Errorf("%s is a builtin (no Run) but reads flags or moves targets", c.Name)
		}
		if c.Run != nil && !c.reads("model-name") {
			t.Errorf("%s does not read the flags of every command", c.Name)
		}
	}
	if !isCommand(defaultCommand) {
		t.Errorf("the default command %q is not in the table", defaultCommand)
	}
}

// TestActionYAMLListsTheCommands: action.yml's command input lists the
// commands of the table, in its order, and defaults to its default.
func TestActionYAMLListsTheCommands(t *testing.T) {
	t.Parallel()
	m, _ := loadActionYAML(t)
	in, ok := m.Inputs["command"]
	if !ok {
		t.Fatal("action.yml has no command input")
	}
	if want := joinWords(commandNames(false), "or"); normalize(in.Description) != want {
		t.Errorf("action.yml's command input says %q, want the command table's %q", in.Description, want)
	}
	if in.Default == nil || *in.Default != defaultCommand {
		t.Errorf("action.yml's command input defaults to %v, want %q", in.Default, defaultCommand)
	}
}

// TestREADMEListsTheCommands: README's command table ("What it does") has
// a row for each command of the table, in its order, the ones that never
// change the registry saying so; its inputs table describes the command
// input as action.yml does.
func TestREADMEListsTheCommands(t *testing.T) {
	t.Parallel()
	rows := regexp.MustCompile("(?m)^\\| `([a-z]+)`[^|]* \\| ([^|]+) \\|").FindAllStringSubmatch(readmeSection(t, "## What it does"), -1)
	var got []string
	for _, r := range rows {
		got = append(got, r[1])
		c, ok := commandNamed(r[1])
		if ok && c.Moves && strings.TrimSpace(r[2]) == "never" {
			t.Errorf("README says %s never changes the registry, but it moves targets", c.Name)
		}
	}
	if diff := cmp.Diff(commandNames(false), got); diff != "" {
		t.Errorf("README.md's command table (-want the command table +got):\n%s", diff)
	}
	row := regexp.MustCompile("(?m)^\\| `command` \\| `([a-z]+)` \\| (.+) \\|$").FindStringSubmatch(readmeSection(t, "## Inputs"))
	if want := commandInput(); row == nil || row[1] != want.Default || row[2] != want.Desc {
		t.Errorf("README.md's inputs table has the command input as %q, want default %q and %q", row, want.Default, want.Desc)
	}
}
