package proto_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedCodeIsFresh regenerates the Go code from the .proto files with
// the pinned tools (make proto-tools) and fails when the committed files differ.
func TestGeneratedCodeIsFresh(t *testing.T) {
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env GOPATH: %v", err)
	}
	bin := filepath.Join(strings.TrimSpace(string(gopath)), "bin")
	protoc, err := exec.LookPath("protoc")
	tools := []string{filepath.Join(bin, "protoc-gen-go"), filepath.Join(bin, "protoc-gen-go-grpc")}
	missing := err != nil
	for _, tool := range tools {
		if _, err := os.Stat(tool); err != nil {
			missing = true
		}
	}
	if missing {
		if os.Getenv("CI") != "" || os.Getenv("VAC_REQUIRE_SERVICES") != "" {
			t.Fatal("protoc or the pinned plugins are missing: run `apt-get install protobuf-compiler` and `make proto-tools`")
		}
		t.Skip("protoc or plugins missing; `make proto-tools` installs the plugins")
	}
	out := t.TempDir()
	protos, _ := filepath.Glob("vacunometro/v1/*.proto")
	args := []string{
		"--plugin=protoc-gen-go=" + tools[0], "--plugin=protoc-gen-go-grpc=" + tools[1],
		"-I", ".", "--go_out=" + out, "--go_opt=paths=source_relative",
		"--go-grpc_out=" + out, "--go-grpc_opt=paths=source_relative",
	}
	cmd := exec.Command(protoc, append(args, protos...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, b)
	}
	generated, _ := filepath.Glob(filepath.Join(out, "vacunometro/v1/*.go"))
	if len(generated) == 0 {
		t.Fatal("protoc generated nothing")
	}
	committed, _ := filepath.Glob("vacunometro/v1/*.pb.go")
	if len(committed) != len(generated) {
		t.Fatalf("committed %d generated files, protoc makes %d: run `make proto`", len(committed), len(generated))
	}
	for _, g := range generated {
		rel, _ := filepath.Rel(out, g)
		want, _ := os.ReadFile(g)
		got, err := os.ReadFile(rel)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `make proto`", rel)
		}
	}
}
