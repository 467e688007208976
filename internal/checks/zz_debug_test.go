package checks

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestZZDebug(t *testing.T) {
	data, _ := os.ReadFile("/tmp/dbg/cases.txt")
	for _, c := range strings.Split(string(data), "\n=====\n") {
		name, src, _ := strings.Cut(c, "\n")
		_, err := Parse("p.yml", []byte(src))
		fmt.Printf("### %s\n%v\n", name, err)
	}
}
