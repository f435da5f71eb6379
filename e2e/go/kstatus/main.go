// Command kstatus prints the kstatus of Kubernetes objects read as JSON on stdin.
//
// It runs sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute, the library Flux's
// health checks and Helm's --wait use, on each object: a single object, or a
// List (the output of `kubectl get -o json`). One JSON line per object:
//
//	{"name":"hello","status":"Current","message":"Resource is Ready"}
//
// kuberun's tests use it to check that an Execution in each phase reads as
// InProgress, Current or Failed to those tools, without a cluster (status
// fixtures) or from the API server (kubectl's output piped in).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type line struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	data, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	var obj map[string]interface{}
	// utiljson keeps integers int64, as the API machinery (and kstatus) expects.
	if err := utiljson.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("stdin is not a JSON object: %w", err)
	}
	objects := []map[string]interface{}{obj}
	if items, ok := obj["items"].([]interface{}); ok {
		objects = objects[:0]
		for i, item := range items {
			m, ok := item.(map[string]interface{})
			if !ok {
				return fmt.Errorf("items[%d] is not an object", i)
			}
			objects = append(objects, m)
		}
	}
	encoder := json.NewEncoder(out)
	for _, o := range objects {
		u := &unstructured.Unstructured{Object: o}
		result, err := status.Compute(u)
		if err != nil {
			return fmt.Errorf("%s: %w", u.GetName(), err)
		}
		if err := encoder.Encode(line{u.GetName(), result.Status.String(), result.Message}); err != nil {
			return err
		}
	}
	return nil
}
