// Command gen trims the dump of MLflow's Unity Catalog registry service
// (scripts/dump_uc_protos.py, run on the pinned wheel) to the rpcs in
// ucfake.RPCs and the messages and enums they reach, so the tests of
// internal/testing/ucfake and internal/uc need no MLflow install to know the wire.
// scripts/gen-uc-protos.sh runs it.
//
//	go run ./internal/ucfake/gen -in full.json -out testdata/uc/uc_registry.subset.json
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

	"github.com/mlreg/mlreg-action/internal/testing/ucfake"
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
	in := fs.String("in", "", "the dump of scripts/dump_uc_protos.py")
	out := fs.String("out", "", "the subset to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("-in and -out are required")
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		return fmt.Errorf("failed to read dump: %w", err)
	}
	sub, err := Subset(b, ucfake.ServiceName, ucfake.RPCs)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, sub, 0o644); err != nil {
		return fmt.Errorf("failed to write subset: %w", err)
	}
	fmt.Fprintf(stderr, "gen: wrote %s (%d bytes, %d rpcs)\n", *out, len(sub), len(ucfake.RPCs))
	return nil
}

// dump is what scripts/dump_uc_protos.py writes.
type dump struct {
	Source   string                        `json:"source"`
	Services map[string]map[string]dumpRPC `json:"services"`
	Messages map[string]ucfake.Message     `json:"messages"`
	Enums    map[string][]ucfake.EnumValue `json:"enums"`
}

type dumpRPC struct {
	Endpoints []struct {
		Method string `json:"method"`
		Path   string `json:"path"`
	} `json:"endpoints"`
	Request  string `json:"request"`
	Response string `json:"response"`
}

// Subset keeps the rpcs of service named in rpcs, bound to their first
// endpoint as MLflow's client binds them (rest_utils.extract_api_info_for_service),
// and every message and enum they reach. It fails when an rpc is missing.
func Subset(full []byte, service string, rpcs []string) ([]byte, error) {
	var d dump
	if err := json.Unmarshal(full, &d); err != nil {
		return nil, fmt.Errorf("failed to parse dump: %w", err)
	}
	svc, ok := d.Services[service]
	if !ok {
		return nil, fmt.Errorf("service %s is not in the dump", service)
	}
	spec := ucfake.Spec{
		Source: d.Source, Service: service,
		RPCs: map[string]ucfake.RPC{}, Messages: map[string]ucfake.Message{}, Enums: map[string][]ucfake.EnumValue{},
	}
	var missing, queue []string
	for _, name := range rpcs {
		r, ok := svc[name]
		if !ok || len(r.Endpoints) == 0 {
			missing = append(missing, name)
			continue
		}
		spec.RPCs[name] = ucfake.RPC{Method: r.Endpoints[0].Method, Path: r.Endpoints[0].Path, Request: r.Request, Response: r.Response}
		queue = append(queue, r.Request, r.Response)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("rpcs not in %s: %s", service, strings.Join(missing, ", "))
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if _, seen := spec.Messages[name]; seen {
			continue
		}
		m, ok := d.Messages[name]
		if !ok {
			return nil, fmt.Errorf("message %s is not in the dump", name)
		}
		spec.Messages[name] = m
		for _, f := range m.Fields {
			if f.Message != "" {
				queue = append(queue, f.Message)
			}
			if f.Enum != "" {
				e, ok := d.Enums[f.Enum]
				if !ok {
					return nil, fmt.Errorf("enum %s is not in the dump", f.Enum)
				}
				spec.Enums[f.Enum] = e
			}
		}
	}
	for _, m := range spec.Messages {
		sort.Slice(m.Fields, func(i, j int) bool { return m.Fields[i].Number < m.Fields[j].Number })
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(spec); err != nil {
		return nil, fmt.Errorf("failed to encode subset: %w", err)
	}
	if _, err := ucfake.ParseSpec(buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
