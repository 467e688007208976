// Command gen trims GitHub's OpenAPI description (the npm package
// @octokit/openapi, file generated/api.github.com.json) to the operations
// mlreg-action uses, with every component they reference, so the tests of
// internal/testing/githubfake need no download. scripts/gen-github-openapi.sh runs it.
//
//	go run ./internal/githubfake/gen -in api.github.com.json -source @octokit/openapi@23.0.2 \
//	    -out testdata/github/api.github.com.subset.json
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "GitHub's full OpenAPI description (api.github.com.json)")
	out := fs.String("out", "", "the subset to write")
	source := fs.String("source", "", "where the description came from, recorded in info.x-mlreg-source")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("-in and -out are required")
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		return fmt.Errorf("failed to read description: %w", err)
	}
	sub, err := Subset(b, githubfake.Operations, *source)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, sub, 0o644); err != nil {
		return fmt.Errorf("failed to write subset: %w", err)
	}
	fmt.Fprintf(stderr, "gen: wrote %s (%d bytes, %d operations)\n", *out, len(sub), len(githubfake.Operations))
	return nil
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Subset keeps the operations whose operationId is in ops, the path-level
// fields of their paths, and every component reachable from them through
// $ref. It fails when an operation is missing from the description.
func Subset(full []byte, ops []string, source string) ([]byte, error) {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(full))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("failed to parse description: %w", err)
	}
	want := map[string]bool{}
	for _, op := range ops {
		want[op] = true
	}
	paths, _ := doc["paths"].(map[string]any)
	outPaths := map[string]any{}
	found := map[string]bool{}
	for p, raw := range paths {
		item, _ := raw.(map[string]any)
		kept := map[string]any{}
		for _, m := range methods {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			id, _ := op["operationId"].(string)
			if want[id] {
				kept[m] = op
				found[id] = true
			}
		}
		if len(kept) == 0 {
			continue
		}
		for k, v := range item {
			if !isMethod(k) {
				kept[k] = v // path-level parameters, summary, ...
			}
		}
		outPaths[p] = kept
	}
	var missing []string
	for _, op := range ops {
		if !found[op] {
			missing = append(missing, op)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("operations not in the description: %s", strings.Join(missing, ", "))
	}

	components, _ := doc["components"].(map[string]any)
	outComponents := map[string]any{}
	seen := map[string]bool{}
	var queue []string
	collectRefs(outPaths, &queue)
	for len(queue) > 0 {
		ref := queue[0]
		queue = queue[1:]
		if seen[ref] {
			continue
		}
		seen[ref] = true
		kind, name, ok := splitRef(ref)
		if !ok {
			return nil, fmt.Errorf("unsupported $ref %q", ref)
		}
		group, _ := components[kind].(map[string]any)
		v, ok := group[name]
		if !ok {
			return nil, fmt.Errorf("dangling $ref %q", ref)
		}
		dst, _ := outComponents[kind].(map[string]any)
		if dst == nil {
			dst = map[string]any{}
			outComponents[kind] = dst
		}
		dst[name] = v
		collectRefs(v, &queue)
	}

	info, _ := doc["info"].(map[string]any)
	if info == nil {
		info = map[string]any{}
	}
	if source != "" {
		info["x-mlreg-source"] = source
	}
	sortedOps := append([]string(nil), ops...)
	sort.Strings(sortedOps)
	info["x-mlreg-operations"] = sortedOps
	out := map[string]any{
		"openapi":    doc["openapi"],
		"info":       info,
		"servers":    doc["servers"],
		"paths":      outPaths,
		"components": outComponents,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("failed to encode subset: %w", err)
	}
	return buf.Bytes(), nil
}

func isMethod(k string) bool {
	for _, m := range methods {
		if k == m {
			return true
		}
	}
	return false
}

func collectRefs(v any, queue *[]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && k == "$ref" {
				*queue = append(*queue, s)
				continue
			}
			collectRefs(x, queue)
		}
	case []any:
		for _, x := range t {
			collectRefs(x, queue)
		}
	}
}

// splitRef splits "#/components/schemas/issue-comment" into its kind and name.
func splitRef(ref string) (kind, name string, ok bool) {
	rest, ok := strings.CutPrefix(ref, "#/components/")
	if !ok {
		return "", "", false
	}
	kind, name, ok = strings.Cut(rest, "/")
	return kind, name, ok && !strings.Contains(name, "/")
}
