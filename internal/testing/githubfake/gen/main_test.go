package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const full = `{
 "openapi": "3.0.3",
 "info": {"title": "GitHub", "version": "1"},
 "servers": [{"url": "https://api.github.com"}],
 "paths": {
  "/a/{id}": {
   "parameters": [{"$ref": "#/components/parameters/id"}],
   "get": {"operationId": "x/get-a", "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/a"}}}}}},
   "delete": {"operationId": "x/delete-a", "responses": {"204": {"description": "gone"}}}
  },
  "/b": {"get": {"operationId": "x/get-b", "responses": {"200": {"$ref": "#/components/responses/b"}}}}
 },
 "components": {
  "parameters": {"id": {"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}},
  "schemas": {
   "a": {"type": "object", "properties": {"user": {"$ref": "#/components/schemas/user"}}},
   "user": {"type": "object", "properties": {"login": {"type": "string"}}},
   "b": {"type": "string"}
  },
  "responses": {"b": {"description": "b", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/b"}}}}}
 }
}`

func TestSubsetKeepsOperationsAndWhatTheyReference(t *testing.T) {
	t.Parallel()
	out, err := Subset([]byte(full), []string{"x/get-a"}, "test@1")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Info       map[string]any                       `json:"info"`
		Paths      map[string]map[string]any            `json:"paths"`
		Components map[string]map[string]map[string]any `json:"components"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for p, item := range doc.Paths {
		for k := range item {
			paths = append(paths, p+" "+k)
		}
	}
	if diff := cmp.Diff([]string{"/a/{id} get", "/a/{id} parameters"}, sorted(paths)); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	var comps []string
	for kind, m := range doc.Components {
		for name := range m {
			comps = append(comps, kind+"/"+name)
		}
	}
	if diff := cmp.Diff([]string{"parameters/id", "schemas/a", "schemas/user"}, sorted(comps)); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
	if doc.Info["x-mlreg-source"] != "test@1" {
		t.Errorf("info = %v", doc.Info)
	}
}

func TestSubsetFailsOnAMissingOperation(t *testing.T) {
	t.Parallel()
	_, err := Subset([]byte(full), []string{"x/get-a", "x/nope"}, "")
	if err == nil || !strings.Contains(err.Error(), "x/nope") {
		t.Errorf("err = %v, want one naming x/nope", err)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
